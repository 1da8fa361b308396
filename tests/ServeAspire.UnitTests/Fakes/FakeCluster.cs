using Microsoft.Extensions.Logging.Abstractions;
using ServeAspire.Config;
using ServeAspire.Controller.Deployments;
using ServeAspire.Model;
using ServeAspire.Runtime;

namespace ServeAspire.UnitTests.Fakes;

/// <summary>
/// A <see cref="DeploymentStateManager"/> driven against fake nodes that behave like real ones, one tick
/// per simulated second: a start is STARTING for one tick (the constructor), then RUNNING; a stop is
/// STOPPING for one tick, then DEAD, then gone from the node's list. Nodes can have a capacity, be lost
/// (their replicas die with them) or join. Single-threaded; each instance is independent.
/// </summary>
internal sealed class FakeCluster
{
    public const string App = "app";
    public const string Deployment = "Configurable";
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch.AddDays(20000);
    private readonly Dictionary<string, FakeClusterNode> _nodes = new(StringComparer.Ordinal);
    private int _ids;
    private int _pids = 1000;

    public FakeCluster(ReplicaLimits limits) =>
        State = new DeploymentStateManager(TimeSpan.FromSeconds(1), 100, () => $"r{_ids++}", NullLogger<DeploymentStateManager>.Instance, limits);

    public DeploymentStateManager State { get; }
    public DateTimeOffset Now { get; private set; } = T0;
    public int Ticks { get; private set; }
    public IReadOnlyCollection<FakeClusterNode> Nodes => _nodes.Values;

    public FakeClusterNode AddNode(string id, int capacity = 0) =>
        _nodes[id] = new FakeClusterNode(new NodeRegistration(id, id + "-i", $"http://{id}", 1, T0, Capacity: capacity));

    /// <summary>The node dies: it leaves the observation, and its processes with it.</summary>
    public void LoseNode(string id) => _nodes.Remove(id);

    /// <summary>
    /// One autoscaled deployment of <c>Samples:Configurable</c> (target 0–200 can be expressed: num_replicas
    /// cannot be 0); <paramref name="version"/> goes into an env var, so changing it rolls the deployment.
    /// </summary>
    public void Deploy(int initialReplicas, string version, int? maxReplicasPerNode = null)
    {
        var perNode = maxReplicasPerNode is { } m ? $", max_replicas_per_node: {m}" : "";
        var result = ConfigValidator.Validate($$"""
            applications:
              - name: {{App}}
                route_prefix: /
                import_path: Samples:Configurable
                runtime_env: { env_vars: { MODEL_VERSION: "{{version}}" } }
                deployments:
                  - { name: {{Deployment}}, autoscaling_config: { min_replicas: 0, max_replicas: 200, initial_replicas: {{initialReplicas}} }{{perNode}} }
            """, new DeploymentCatalog());
        if (!result.IsValid) throw new InvalidOperationException(result.Summary);
        State.ApplyConfig(result.Config!, null, Now);
    }

    /// <summary>An autoscaling decision: the deployment's target moves to <paramref name="target"/>.</summary>
    public void Autoscale(int target) => State.Autoscale(RouteEntry.KeyOf(App, Deployment), target, "test", Now);

    public DeploymentState Dep => State.Read((apps, _) => apps[App].Deployments[Deployment]);

    /// <summary>Replicas in the routing table (RUNNING, with an address): what serves.</summary>
    public int Routed => State.BuildRoutes().Routes.SingleOrDefault()?.Replicas.Count ?? 0;

    public void Tick()
    {
        Now = Now.AddSeconds(1);
        Ticks++;
        // What the processes did since the last tick: constructors finish, stops complete, the dead are forgotten.
        foreach (var node in _nodes.Values)
            foreach (var (id, r) in node.Replicas.ToList())
                node.Replicas[id] = r.State switch
                {
                    ReplicaProcessState.STARTING => r with { State = ReplicaProcessState.RUNNING, Url = $"http://{node.Registration.NodeId}/{id}" },
                    ReplicaProcessState.STOPPING => r with { State = ReplicaProcessState.DEAD },
                    _ => r,
                };
        var observation = new ClusterObservation(_nodes.Values.ToDictionary(n => n.Registration.NodeId, n => new NodeObservation(n.Registration,
            new NodeReplicasResponse(n.Registration.NodeId, n.Registration.InstanceId, n.Replicas.Values.ToList())), StringComparer.Ordinal));
        foreach (var node in _nodes.Values)
            foreach (var (id, r) in node.Replicas.ToList())
                if (r.State == ReplicaProcessState.DEAD) node.Replicas.Remove(id);
        foreach (var action in State.Reconcile(observation, Now))
        {
            var node = _nodes[action.Node.NodeId];
            switch (action)
            {
                case StartReplicaAction s:
                    node.Replicas[s.ReplicaId] = new ReplicaProcessInfo(s.ReplicaId, s.Request.Application, s.Request.Deployment, ReplicaProcessState.STARTING,
                        _pids++, null, Now, null, null, s.Request.CodeVersion, string.IsNullOrEmpty(s.Request.UserConfigVersion) ? null : s.Request.UserConfigVersion);
                    State.OnStartResult(s.ReplicaId, true, null);
                    break;
                case StopReplicaAction st when node.Replicas.TryGetValue(st.ReplicaId, out var r):
                    node.Replicas[st.ReplicaId] = r with { State = ReplicaProcessState.STOPPING };
                    State.OnStopResult(st.ReplicaId, true, false, Now);
                    break;
                case StopReplicaAction st:
                    State.OnStopResult(st.ReplicaId, false, true, Now);
                    break;
            }
        }
    }
}

internal sealed class FakeClusterNode(NodeRegistration registration)
{
    public NodeRegistration Registration { get; } = registration;
    public Dictionary<string, ReplicaProcessInfo> Replicas { get; } = new(StringComparer.Ordinal);
    /// <summary>Processes on the node that hold a slot (everything not DEAD).</summary>
    public int Occupied => Replicas.Values.Count(r => r.State != ReplicaProcessState.DEAD);
}
