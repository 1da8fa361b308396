using ServeAspire.Controller.Nodes;

namespace ServeAspire.UnitTests.Placement;

public sealed class RegistrationJanitorTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch.AddDays(20000);

    [Fact]
    public void ADeadRegistration_IsDueOnlyAfterTheRetention_AndOneThatCameBackIsNot()
    {
        var janitor = new RegistrationJanitor(TimeSpan.FromMinutes(10));
        (string, string, bool)[] tick = [("node", "node-0", false), ("node", "node-1", true), ("proxy", "proxy-9", false)];
        Assert.Empty(janitor.Due(tick, T0));
        Assert.Empty(janitor.Due(tick, T0.AddMinutes(9)));
        // node-0 came back for a moment: its clock starts again.
        Assert.Empty(janitor.Due([("node", "node-0", true), ("node", "node-1", true), ("proxy", "proxy-9", false)], T0.AddMinutes(9.5)));
        Assert.Equal([("proxy", "proxy-9")], janitor.Due(tick, T0.AddMinutes(10)));
        Assert.Equal([("node", "node-0"), ("proxy", "proxy-9")], janitor.Due(tick, T0.AddMinutes(20))); // node-0 dead again since minute 10
    }
}
