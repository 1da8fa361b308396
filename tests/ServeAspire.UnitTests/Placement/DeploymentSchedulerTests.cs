using ServeAspire.Controller.Placement;

namespace ServeAspire.UnitTests.Placement;

public sealed class DeploymentSchedulerTests
{
    private static readonly string[] ThreeNodes = ["node-0", "node-1", "node-2"];
    private static readonly Dictionary<string, int> None = [];

    [Fact]
    public void SixReplicasOnThreeNodes_AreSpreadTwoEach()
    {
        var placed = DeploymentScheduler.Place(6, ThreeNodes, None, None, DeploymentScheduler.MaxPerNode(6, 3, null));
        Assert.Equal(6, placed.Count);
        Assert.All(placed.GroupBy(n => n), g => Assert.Equal(2, g.Count()));
    }

    [Fact]
    public void MaxPerNode_DefaultsToCeilingOfTargetOverNodes()
    {
        Assert.Equal(2, DeploymentScheduler.MaxPerNode(6, 3, null));
        Assert.Equal(3, DeploymentScheduler.MaxPerNode(7, 3, null));
        Assert.Equal(3, DeploymentScheduler.MaxPerNode(6, 2, null));
        Assert.Equal(0, DeploymentScheduler.MaxPerNode(0, 3, null)); // scaled to zero: nothing to place, no division by zero
        Assert.Equal(0, DeploymentScheduler.MaxPerNode(0, 0, null));
        Assert.Equal(1, DeploymentScheduler.MaxPerNode(6, 3, 1));
        Assert.Equal(0, DeploymentScheduler.MaxPerNode(6, 0, null));
    }

    [Fact]
    public void FullNodes_PlaceFewerThanAsked()
    {
        var placed = DeploymentScheduler.Place(6, ThreeNodes, None, None, maxPerNode: 1);
        Assert.Equal(ThreeNodes, placed.Order());
    }

    [Fact]
    public void Replacements_GoToTheNodesWithFewestReplicas()
    {
        var existing = new Dictionary<string, int> { ["node-0"] = 2, ["node-1"] = 2 };
        var placed = DeploymentScheduler.Place(2, ThreeNodes, existing, existing, maxPerNode: 2);
        Assert.Equal(["node-2", "node-2"], placed);
    }

    [Fact]
    public void Ties_AreBrokenByTotalLoadThenName()
    {
        var totals = new Dictionary<string, int> { ["node-0"] = 5, ["node-1"] = 1, ["node-2"] = 1 };
        var placed = DeploymentScheduler.Place(1, ThreeNodes, None, totals, maxPerNode: 2);
        Assert.Equal(["node-1"], placed);
    }

    [Fact]
    public void ScaleDown_StopsStartingReplicasFirst_ThenFromCrowdedNodes()
    {
        var t0 = DateTimeOffset.UnixEpoch;
        var replicas = new[]
        {
            (Id: "a", Node: "node-0", Starting: false, At: t0),
            (Id: "b", Node: "node-0", Starting: false, At: t0.AddSeconds(1)),
            (Id: "c", Node: "node-0", Starting: false, At: t0.AddSeconds(2)),
            (Id: "d", Node: "node-1", Starting: true, At: t0),
            (Id: "e", Node: "node-2", Starting: false, At: t0),
        };
        var victims = DeploymentScheduler.ChooseVictims(replicas, 3, r => r.Node, r => r.Starting, r => r.At).Select(r => r.Id).ToList();
        Assert.Equal(["d", "c", "b"], victims);
    }
}
