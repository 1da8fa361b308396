using Microsoft.Extensions.Options;
using ServeAspire.Controller;
using ServeAspire.Controller.ControlLoop;

namespace ServeAspire.UnitTests.ControlLoop;

public sealed class TickFailpointTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("failpoint-");
    private string File_ => Path.Combine(_dir.FullName, "fp");

    private TickFailpoint Failpoint(string? file) => new(Options.Create(new ControllerOptions { FailpointFile = file }), TimeProvider.System);

    [Fact]
    public async Task Unset_OrNoFile_OrAnotherPosition_NeverHolds()
    {
        await Failpoint(null).HoldAsync(TickFailpoint.AtTickStart, CancellationToken.None);
        await Failpoint(File_).HoldAsync(TickFailpoint.AtTickStart, CancellationToken.None);
        await File.WriteAllTextAsync(File_, TickFailpoint.BeforeActing);
        await Failpoint(File_).HoldAsync(TickFailpoint.AtTickStart, CancellationToken.None);
        Assert.True(File.Exists(File_), "a tick at another position must leave the failpoint armed");
    }

    [Fact]
    public async Task TheFirstTickAtThePosition_ParksUntilReleased_AndOnlyOneParks()
    {
        await File.WriteAllTextAsync(File_, TickFailpoint.BeforeActing);
        var parked = Failpoint(File_).HoldAsync(TickFailpoint.BeforeActing, CancellationToken.None);
        // The holder renames the file and writes its PID: wait for that, not for a time.
        var held = File_ + ".held";
        await Until(async () => File.Exists(held) && (await File.ReadAllTextAsync(held)).Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 2);
        Assert.Equal($"act {Environment.ProcessId}", (await File.ReadAllTextAsync(held)).Trim());
        Assert.False(parked.IsCompleted);

        // A second tick (another process, or the successor) finds nothing armed and goes on.
        await Failpoint(File_).HoldAsync(TickFailpoint.BeforeActing, CancellationToken.None);
        Assert.False(parked.IsCompleted);

        File.Delete(held);
        await parked.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task AParkedTick_EndsWithTheProcess()
    {
        await File.WriteAllTextAsync(File_, TickFailpoint.AtTickStart);
        using var stopping = new CancellationTokenSource();
        var parked = Failpoint(File_).HoldAsync(TickFailpoint.AtTickStart, stopping.Token);
        await Until(() => Task.FromResult(File.Exists(File_ + ".held")));
        await stopping.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => parked.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private static async Task Until(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the tick never parked");
            await Task.Delay(10);
        }
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
