namespace ServeAspire.Model;

/// <summary>
/// The routing table the controller publishes and every proxy caches (Ray's long-poll snapshot).
/// <see cref="Version"/> only grows; a proxy ignores a table older than the one it holds.
/// </summary>
public sealed record RoutingTable(long Version, double? RequestTimeoutS, IReadOnlyList<RouteEntry> Routes)
{
    public static RoutingTable Empty { get; } = new(0, null, []);

    /// <summary>True when both tables route the same way (the version aside).</summary>
    public bool SameRoutesAs(RoutingTable other) =>
        RequestTimeoutS == other.RequestTimeoutS &&
        Routes.Count == other.Routes.Count &&
        Routes.Zip(other.Routes).All(p => p.First.SameAs(p.Second));
}

public sealed record RouteEntry(
    string RoutePrefix,
    string Application,
    string Deployment,
    int MaxOngoingRequests,
    int MaxQueuedRequests,
    bool RetryOnFailure,
    IReadOnlyList<ReplicaEndpoint> Replicas)
{
    public bool SameAs(RouteEntry other) =>
        RoutePrefix == other.RoutePrefix && Application == other.Application && Deployment == other.Deployment &&
        MaxOngoingRequests == other.MaxOngoingRequests && MaxQueuedRequests == other.MaxQueuedRequests &&
        RetryOnFailure == other.RetryOnFailure && Replicas.SequenceEqual(other.Replicas);
}

public sealed record ReplicaEndpoint(string ReplicaId, string Url, string NodeId);
