namespace ServeAspire.EndToEndTests.Infrastructure;

/// <summary>One started app for the tests that only read (or whose rejected writes change nothing).</summary>
public sealed class SharedServeApp : IAsyncLifetime
{
    public ServeApp App { get; private set; } = null!;

    /// <summary>From AppHost start to 6 distinct PIDs answered through the proxies (null: never, within 120 s).</summary>
    public TimeSpan? TimeToSixPids { get; private set; }

    public async Task InitializeAsync()
    {
        // The sample exactly as ./run.sh applies it: started once, and SharedAppTests PUTs the sample back.
        App = await ServeApp.StartAsync([ServeApp.SampleConfigArg]);
        var seen = new HashSet<int>();
        try
        {
            await ServeApp.WaitUntilAsync(async () =>
            {
                for (var i = 0; i < 12; i++)
                    if (await App.PidThroughProxyAsync(i % 2) is { } pid) seen.Add(pid);
                return seen.Count;
            }, n => n >= 6, TimeSpan.FromSeconds(120), "6 distinct PIDs");
            TimeToSixPids = App.SinceStart.Elapsed;
        }
        catch (TimeoutException)
        {
            TimeToSixPids = null; // the test that checks it fails with the reason; the others still run
        }
    }

    public async Task DisposeAsync() => await App.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class SharedServeAppCollection : ICollectionFixture<SharedServeApp>
{
    public const string Name = "shared serve app";
}
