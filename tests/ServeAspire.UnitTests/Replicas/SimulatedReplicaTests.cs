using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ServeAspire.Model;
using ServeAspire.ReplicaHost.Apis;
using ServeAspire.ReplicaHost.Nodes;
using ServeAspire.ReplicaHost.Replicas;
using ServeAspire.Store;

namespace ServeAspire.UnitTests.Replicas;

/// <summary>
/// Node:Simulated: stand-ins go through the real supervisor, so the controller sees the lifecycle of a
/// replica process (RUNNING → STOPPING → DEAD → pruned) and the same exit event.
/// </summary>
public sealed class SimulatedReplicaTests
{
    private const string NodeAddress = "http://127.0.0.1:48100";
    private static readonly TimeSpan StopDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Retention = TimeSpan.FromMinutes(2);

    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch);
    private readonly FakePublisher _events = new();
    private readonly NodeIdentity _identity = new() { Address = NodeAddress };
    private readonly ReplicaSupervisor _supervisor;

    public SimulatedReplicaTests()
    {
        var options = Options.Create(new NodeOptions
        {
            Id = "node-0", Simulated = true, MaxReplicas = 2, SimulatedStopDelay = StopDelay, DeadReplicaRetention = Retention,
        });
        var launcher = new SimulatedReplicaLauncher(options, _identity, _time, NullLogger<SimulatedReplica>.Instance);
        _supervisor = new ReplicaSupervisor(options, _identity, launcher, _events, _time, NullLogger<ReplicaSupervisor>.Instance);
    }

    private sealed class FakePublisher : IClusterEventPublisher
    {
        public readonly ConcurrentQueue<ClusterEvent> Published = new();

        public Task<string?> PublishAsync(ClusterEvent evt)
        {
            Published.Enqueue(evt);
            return Task.FromResult<string?>(null);
        }
    }

    private static StartReplicaRequest Request(string id) => new(id, "app", "SleepyPid", "Samples:SleepyPid", 20, 2);

    private ReplicaProcessInfo? Listed(string id) => _supervisor.List().Replicas.SingleOrDefault(r => r.ReplicaId == id);

    /// <summary>Stop runs off the caller's thread (as for a process): wait, bounded, until it took effect.</summary>
    private void WaitUntilListedAs(string id, ReplicaProcessState state) =>
        Assert.True(SpinWait.SpinUntil(() => Listed(id)?.State == state, TimeSpan.FromSeconds(10)), $"replica {id} never listed {state}: {Listed(id)}");

    [Fact]
    public void Start_IsRunningAtOnce_WithTheNodesPid_AndAUrlOnTheNodeItself()
    {
        var started = _supervisor.Start(Request("r1"));

        Assert.Equal(ReplicaProcessState.RUNNING, started.State);
        var listed = Assert.Single(_supervisor.List().Replicas);
        Assert.Equal(("r1", ReplicaProcessState.RUNNING, Environment.ProcessId, NodeAddress + "/sim/r1"), (listed.ReplicaId, listed.State, listed.Pid, listed.Url));
        Assert.Equal(1, _supervisor.AliveCount);
    }

    [Fact]
    public void Stop_ListsStoppingThenDead_PublishesTheExit_ThenPrunesAfterTheRetention()
    {
        _supervisor.Start(Request("r1"));

        Assert.True(_supervisor.Stop("r1"));
        WaitUntilListedAs("r1", ReplicaProcessState.STOPPING);
        Assert.Empty(_events.Published);

        _time.Advance(StopDelay);
        var dead = Listed("r1");
        Assert.Equal((ReplicaProcessState.DEAD, 0, "exited with code 0"), (dead?.State, dead?.ExitCode, dead?.Message));
        var evt = Assert.Single(_events.Published);
        Assert.Equal(new ClusterEvent(ClusterEvents.ReplicaExited, "node-0", "r1", "exited with code 0"), evt);
        Assert.Equal(0, _supervisor.AliveCount);

        // Still listed within the retention, so the controller sees why it exited; gone after it.
        _time.Advance(Retention);
        Assert.NotNull(Listed("r1"));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(_supervisor.List().Replicas);
        Assert.Null(_supervisor.StateOf("r1"));
    }

    [Fact]
    public void Start_TheSameIdAgain_ReturnsTheExistingReplica()
    {
        var first = _supervisor.Start(Request("r1"));
        var again = _supervisor.Start(Request("r1"));

        Assert.Equal(first, again);
        Assert.Single(_supervisor.List().Replicas);
    }

    [Fact]
    public void Start_PastCapacity_IsRefused_UntilAStoppedOneIsDead()
    {
        _supervisor.Start(Request("r1"));
        _supervisor.Start(Request("r2"));

        Assert.Throws<InvalidOperationException>(() => _supervisor.Start(Request("r3")));
        _supervisor.Stop("r1");
        WaitUntilListedAs("r1", ReplicaProcessState.STOPPING);
        // A stopping replica still holds its slot, as a process does until it has exited.
        Assert.Throws<InvalidOperationException>(() => _supervisor.Start(Request("r3")));

        _time.Advance(StopDelay);
        Assert.Equal(ReplicaProcessState.RUNNING, _supervisor.Start(Request("r3")).State);
    }

    [Fact]
    public void Start_BeforeTheNodeKnowsItsAddress_IsRefused()
    {
        _identity.Address = null;

        Assert.Throws<InvalidOperationException>(() => _supervisor.Start(Request("r1")));
        Assert.Empty(_supervisor.List().Replicas);
    }

    [Fact]
    public async Task StopAll_EndsEveryStandIn_WithoutPublishingExits()
    {
        _supervisor.Start(Request("r1"));
        _supervisor.Start(Request("r2"));
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync(); // the host's shutdown budget is spent: whatever is left is killed

        await _supervisor.StopAllAsync(cancelled.Token);

        Assert.All(_supervisor.List().Replicas, r => Assert.Equal(ReplicaProcessState.DEAD, r.State));
        Assert.Equal(0, _supervisor.AliveCount);
        Assert.Empty(_events.Published); // the node is going away: no event per replica
    }

    [Fact]
    public void Traffic_ToARunningStandIn_Answers200_AndItsHealthCheckSucceeds()
    {
        _supervisor.Start(Request("r1"));

        Assert.Equal((200, "r1"), Answer("r1", "anything/at/all"));
        Assert.Equal((200, "r1"), Answer("r1", null));
        Assert.Equal((200, "success"), Answer("r1", "-/check_health"));
    }

    [Fact]
    public void Traffic_ToAStoppingStoppedOrUnknownStandIn_Is404()
    {
        _supervisor.Start(Request("r1"));
        _supervisor.Stop("r1");
        WaitUntilListedAs("r1", ReplicaProcessState.STOPPING);
        Assert.Equal(404, Answer("r1", "-/check_health").Status);

        _time.Advance(StopDelay);
        Assert.Equal(404, Answer("r1", null).Status);
        Assert.Equal(404, Answer("nope", null).Status);
    }

    [Fact]
    public void Kill_WithoutRestart_IsDeadAtOnce_WithTheReason_AndPublishesTheExit()
    {
        _supervisor.Start(Request("r1"));

        var killed = _supervisor.Kill("r1", restart: false, "killed by the kill API (test)");

        Assert.Equal((ReplicaProcessState.DEAD, SimulatedReplica.KilledExitCode, "killed by the kill API (test)", 0), (killed?.State, killed?.ExitCode, killed?.Message, killed?.Restarts));
        var evt = Assert.Single(_events.Published);
        Assert.Equal(new ClusterEvent(ClusterEvents.ReplicaExited, "node-0", "r1", "killed by the kill API (test)"), evt);
        Assert.Equal(0, _supervisor.AliveCount);
        Assert.Null(_supervisor.Kill("r1", restart: false, "again")); // dead: nothing left to kill
    }

    [Fact]
    public void Kill_WithRestart_KeepsTheId_CountsTheRestart_AndKeepsTheLastExitCode_WithoutAnExitEvent()
    {
        _supervisor.Start(Request("r1"));

        var restarted = _supervisor.Kill("r1", restart: true, "killed by the kill API (test)");
        var again = _supervisor.Kill("r1", restart: true, "killed by the kill API (test)");

        Assert.Equal((ReplicaProcessState.RUNNING, 1), (restarted?.State, restarted?.Restarts));
        var listed = Assert.Single(_supervisor.List().Replicas);
        Assert.Equal(("r1", ReplicaProcessState.RUNNING, 2, SimulatedReplica.KilledExitCode), (listed.ReplicaId, listed.State, listed.Restarts, listed.LastExitCode));
        Assert.Equal(2, again?.Restarts);
        Assert.Empty(_events.Published); // the id never died: the controller must not replace it
        Assert.Equal(1, _supervisor.AliveCount);
    }

    [Fact]
    public void Kill_AnUnknownReplica_IsNull_AndARestartOnADrainingNode_IsRefused()
    {
        Assert.Null(_supervisor.Kill("nope", restart: true, "x"));
        _supervisor.Start(Request("r1"));
        _identity.Draining = true;

        Assert.Throws<InvalidOperationException>(() => _supervisor.Kill("r1", restart: true, "x"));
        Assert.Equal(ReplicaProcessState.RUNNING, Listed("r1")?.State); // refused: untouched
    }

    private (int Status, string? Body) Answer(string replicaId, string? rest)
    {
        var result = Assert.IsType<ContentHttpResult>(SimulatedReplicasApi.Answer(_supervisor, replicaId, rest));
        return (result.StatusCode ?? StatusCodes.Status200OK, result.StatusCode is null or 200 ? result.ResponseContent : null);
    }

    [Theory]
    [InlineData("/replicas", true)]
    [InlineData("/replicas/r1", true)]
    [InlineData("/simulate", true)]
    [InlineData("/", true)]
    [InlineData("/sim/r1/-/check_health", false)]
    [InlineData("/sim/r1", false)]
    [InlineData("/health", false)]
    [InlineData("/alive", false)]
    public void ClusterToken_IsRequired_ByTheNodeApi_NotBySimulatedTraffic(string path, bool required) =>
        Assert.Equal(required, ReplicasApi.RequiresClusterToken(new PathString(path)));
}
