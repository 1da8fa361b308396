using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ServeAspire.Controller;

namespace ServeAspire.UnitTests.Leadership;

/// <summary>The lease settings are range-checked at startup, the way the controller binds them (ValidateDataAnnotations).</summary>
public sealed class LeaseOptionsTests
{
    private static ControllerOptions Bind(Action<ControllerOptions> configure)
    {
        var services = new ServiceCollection();
        services.AddOptions<ControllerOptions>().Configure(configure).ValidateDataAnnotations();
        return services.BuildServiceProvider().GetRequiredService<IOptions<ControllerOptions>>().Value;
    }

    [Fact]
    public void TheDefaults_AreValid_AndRenewSixTimesPerTtl()
    {
        var o = Bind(_ => { });
        Assert.Equal(TimeSpan.FromMilliseconds(1500), o.LeaseTtl);
        Assert.Equal(TimeSpan.FromMilliseconds(250), o.LeaseRenewInterval);
    }

    [Theory]
    [InlineData(3000, 750)]  // exactly a quarter
    [InlineData(500, 100)]
    [InlineData(60_000, 1000)]
    public void ARenewIntervalOfAtMostAQuarterOfTheTtl_IsAccepted(int ttlMs, int renewMs) =>
        Bind(o => (o.LeaseTtl, o.LeaseRenewInterval) = (TimeSpan.FromMilliseconds(ttlMs), TimeSpan.FromMilliseconds(renewMs)));

    [Theory]
    [InlineData(3000, 1000, "at most 1/4 of Controller:LeaseTtl (3000 ms)")] // the old 3 s / 1 s: one late renewal could lose the lease
    [InlineData(1500, 1500, "at most 1/4 of Controller:LeaseTtl (1500 ms)")]
    [InlineData(1500, 20, "at least 50 ms")]
    [InlineData(400, 50, "Controller:LeaseTtl is 400 ms; it must be between 500 ms and 60000 ms")]
    [InlineData(120_000, 1000, "Controller:LeaseTtl is 120000 ms")]
    public void AnIntervalTooCloseToTheTtl_OrOutOfRange_FailsAtStartup_NamingTheSetting(int ttlMs, int renewMs, string expected)
    {
        var ex = Assert.Throws<OptionsValidationException>(() =>
            Bind(o => (o.LeaseTtl, o.LeaseRenewInterval) = (TimeSpan.FromMilliseconds(ttlMs), TimeSpan.FromMilliseconds(renewMs))));
        Assert.Contains(expected, ex.Message);
    }
}
