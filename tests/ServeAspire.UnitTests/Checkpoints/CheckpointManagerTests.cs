using Microsoft.Extensions.Logging.Abstractions;
using ServeAspire.Config;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.Deployments;
using ServeAspire.Model;
using ServeAspire.Runtime;
using ServeAspire.UnitTests.Fakes;

namespace ServeAspire.UnitTests.Checkpoints;

public sealed class CheckpointManagerTests
{
    [Fact]
    public async Task Saves_OnlyWhenTheDeploymentStateChanged()
    {
        var ids = 0;
        var manager = new DeploymentStateManager(TimeSpan.FromSeconds(1), 10, () => $"r{ids++}", NullLogger<DeploymentStateManager>.Instance);
        var store = new FakeClusterStore();
        var checkpoints = new CheckpointManager(manager, store);

        Assert.True(await checkpoints.SaveIfChangedAsync(1, default)); // a tenure's first tick writes its own
        Assert.False(await checkpoints.SaveIfChangedAsync(1, default));
        Assert.Equal(1, store.StateSaves);

        var config = ConfigValidator.Validate("""
            applications:
              - { name: a, route_prefix: /, import_path: "Samples:SleepyPid", deployments: [ { name: SleepyPid, num_replicas: 2 } ] }
            """, new DeploymentCatalog());
        manager.ApplyConfig(config.Config!, null, DateTimeOffset.UnixEpoch);
        var node = new NodeRegistration("node-0", "i1", "http://n", 1, DateTimeOffset.UnixEpoch);
        var actions = manager.Reconcile(new ClusterObservation(new Dictionary<string, NodeObservation>
        {
            ["node-0"] = new(node, new NodeReplicasResponse("node-0", "i1", [])),
        }), DateTimeOffset.UnixEpoch);
        Assert.Equal(2, actions.Count);

        Assert.True(await checkpoints.SaveIfChangedAsync(1, default));
        Assert.Contains(actions[0].ReplicaId, store.State);
        Assert.False(await checkpoints.SaveIfChangedAsync(1, default));
        Assert.Equal(2, store.StateSaves);
    }

    [Fact]
    public void AReplicaRecord_RoundTripsThroughTheCheckpoint_StateIncluded()
    {
        // State has an internal setter (only ReplicaStateContainer moves it): the checkpoint must still carry it.
        var record = new ReplicaRecord { ReplicaId = "r1", Application = "a", Deployment = "d", NodeId = "n", NodeInstanceId = "i", Pid = 42, Url = "http://x", StartConfirmed = true };
        var container = new ReplicaStateContainer("a", "d", () => { }, NullLogger.Instance);
        container.Add(record);
        container.Transition(record, ReplicaState.RUNNING);
        var json = System.Text.Json.JsonSerializer.Serialize(new StateCheckpoint([record]), SerializerOptions.Default);
        var back = Assert.Single(System.Text.Json.JsonSerializer.Deserialize<StateCheckpoint>(json, SerializerOptions.Default)!.Replicas);
        Assert.Equal((ReplicaState.RUNNING, 42, "http://x", true), (back.State, back.Pid, back.Url, back.StartConfirmed));
    }
}
