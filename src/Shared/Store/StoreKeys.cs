namespace ServeAspire.Store;

/// <summary>
/// Every Redis key and channel of one cluster, under <c>serve:{cluster}:</c> so several clusters can
/// share one Redis.
/// </summary>
public sealed class StoreKeys(string cluster)
{
    public string Cluster { get; } = string.IsNullOrWhiteSpace(cluster) ? "default" : cluster;
    private string Prefix => $"serve:{Cluster}:";

    /// <summary>Desired config checkpoint (JSON: the applied ServeDeploySchema and its time).</summary>
    public string Config => Prefix + "config";
    /// <summary>Deployment target state and replica placement checkpoint.</summary>
    public string DeploymentState => Prefix + "deployment_state";
    /// <summary>The published routing table's index (JSON <c>RoutingIndex</c>): its version and each entry's version.</summary>
    public string RoutesIndex => Prefix + "routes:index";
    /// <summary>Hash entry key (application, newline, deployment) → that deployment's route (JSON <c>RouteEntry</c>).</summary>
    public string RouteEntries => Prefix + "routes:entries";
    /// <summary>Channel announcing a new routing table version.</summary>
    public string RoutesChannel => Prefix + "routes:changed";
    /// <summary>Hash proxy name → its ongoing requests per deployment (JSON <c>OngoingRequestsReport</c>), refreshed every heartbeat: the autoscaler's input.</summary>
    public string OngoingRequests => Prefix + "autoscaling:ongoing";
    /// <summary>Hash node id → registration (last seen).</summary>
    public string Nodes => Prefix + "nodes";
    /// <summary>Per-node liveness key with a TTL.</summary>
    public string NodeHeartbeat(string nodeId) => Prefix + "node:" + nodeId + ":alive";
    /// <summary>Hash proxy name → registration (last seen).</summary>
    public string Proxies => Prefix + "proxies";
    public string ProxyHeartbeat(string name) => Prefix + "proxy:" + name + ":alive";
    /// <summary>Channel for node events (replica exits), so the controller reacts at once.</summary>
    public string EventsChannel => Prefix + "events";
    /// <summary>
    /// Channel one named proxy, node or controller listens on for the kill API (<c>POST /api/actors/{name}/kill</c>):
    /// one channel per name, so PUBLISH's receiver count tells the controller whether that actor is there.
    /// </summary>
    public string KillChannel(string name) => Prefix + "kill:" + name;
    /// <summary>List (newest first, capped) of proxies, nodes and controllers killed through the kill API, with the cause: the State API's DEAD rows.</summary>
    public string KilledActors => Prefix + "actors:killed";
    /// <summary>Leader lease record (controller leader election).</summary>
    public string LeaderLease => Prefix + "controller:leader";
    /// <summary>Monotonic fencing-token counter for the leader lease.</summary>
    public string FencingCounter => Prefix + "controller:fencing";
}
