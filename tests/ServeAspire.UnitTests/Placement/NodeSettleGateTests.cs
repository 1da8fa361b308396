using ServeAspire.Controller.Placement;

namespace ServeAspire.UnitTests.Placement;

public sealed class NodeSettleGateTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch.AddDays(20000);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(3);

    private static NodeSettleGate Gate(int expected)
    {
        var gate = new NodeSettleGate(expected, Timeout, Window);
        gate.Reset(T0);
        return gate;
    }

    [Fact]
    public void ExpectedNodes_HoldsUntilAllAreLive_ThenStaysOpen()
    {
        var gate = Gate(3);
        Assert.Equal("waiting for nodes to register: 0 of 3 live (placing on the live ones in at most 20 s)", gate.Hold([], T0));
        Assert.Contains("2 of 3 live", gate.Hold(["node-0", "node-1"], T0.AddSeconds(5)));
        Assert.False(gate.IsOpen);

        Assert.Null(gate.Hold(["node-2", "node-0", "node-1"], T0.AddSeconds(6)));
        Assert.True(gate.IsOpen);
        // Open for the rest of the tenure: a node lost later does not hold placement again.
        Assert.Null(gate.Hold(["node-0"], T0.AddSeconds(7)));
    }

    [Fact]
    public void ExpectedNodes_ANodeThatNeverComes_IsLeftOutAfterTheBound()
    {
        var gate = Gate(3);
        Assert.NotNull(gate.Hold(["node-0", "node-1"], T0.AddSeconds(19.9)));
        Assert.Null(gate.Hold(["node-0", "node-1"], T0.AddSeconds(20)));
        Assert.True(gate.IsOpen);
    }

    [Fact]
    public void NoExpectedCount_OpensWhenTheSetIsUnchangedForTheWindow()
    {
        var gate = Gate(0);
        Assert.NotNull(gate.Hold([], T0.AddSeconds(5))); // nothing live: nothing to settle on
        Assert.NotNull(gate.Hold(["node-0"], T0.AddSeconds(6)));
        Assert.NotNull(gate.Hold(["node-0", "node-1"], T0.AddSeconds(8))); // the set changed: the window restarts
        Assert.NotNull(gate.Hold(["node-1", "node-0"], T0.AddSeconds(10.9))); // same set, another order
        Assert.Null(gate.Hold(["node-0", "node-1"], T0.AddSeconds(11)));
    }

    [Fact]
    public void Reset_ClosesTheGateForANewTenure()
    {
        var gate = Gate(2);
        Assert.Null(gate.Hold(["a", "b"], T0));
        gate.Reset(T0.AddMinutes(1));
        Assert.NotNull(gate.Hold(["a"], T0.AddMinutes(1)));
        Assert.False(gate.IsOpen);
    }
}
