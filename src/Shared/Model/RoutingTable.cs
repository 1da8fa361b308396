using System.Text.Json.Serialization;

namespace ServeAspire.Model;

/// <summary>
/// The routing table the controller publishes and every proxy caches (Ray's long-poll snapshot).
/// <see cref="Version"/> only grows; a proxy ignores a table older than the one it holds. Each
/// deployment's entry carries the table version at which it last changed (<see cref="EntryVersions"/>),
/// so a proxy fetches only the entries that changed.
/// </summary>
public sealed record RoutingTable(long Version, double? RequestTimeoutS, IReadOnlyList<RouteEntry> Routes)
{
    public static RoutingTable Empty { get; } = new(0, null, []);

    /// <summary>Entry key (<see cref="RouteEntry.Key"/>) → the table version at which that entry last changed.</summary>
    public IReadOnlyDictionary<string, long> EntryVersions { get; init; } = new Dictionary<string, long>();

    /// <summary>When the controller published this version (Unix ms, its clock): proxies measure how long it took to reach them.</summary>
    public long PublishedAtMs { get; init; }

    /// <summary>True when both tables route the same way (the versions aside).</summary>
    public bool SameRoutesAs(RoutingTable other) =>
        RequestTimeoutS == other.RequestTimeoutS &&
        Routes.Count == other.Routes.Count &&
        Routes.Zip(other.Routes).All(p => p.First.SameAs(p.Second));

    /// <summary>The index this table is announced with: what a proxy reads first, to see which entries it lacks.</summary>
    public RoutingIndex ToIndex() => new(Version, RequestTimeoutS, PublishedAtMs,
        Routes.Select(r => new RouteVersion(r.Application, r.Deployment, EntryVersions.GetValueOrDefault(r.Key, Version))).ToList());
}

/// <summary>
/// The published table without its entries: its version, and each deployment's entry version.
/// Small (one line per deployment, whatever the replica count), so proxies can poll it cheaply.
/// </summary>
public sealed record RoutingIndex(long Version, double? RequestTimeoutS, long PublishedAtMs, IReadOnlyList<RouteVersion> Entries);

public sealed record RouteVersion(string Application, string Deployment, long Version)
{
    [JsonIgnore] public string Key => RouteEntry.KeyOf(Application, Deployment);
}

/// <param name="ScalesFromZero">
/// The deployment may have no replica on purpose (autoscaled with <c>min_replicas: 0</c>): a request that finds
/// none waits in the proxy's queue while one starts, instead of a 503. Last and defaulted, so entries stored
/// before it existed still read.
/// </param>
public sealed record RouteEntry(
    string RoutePrefix,
    string Application,
    string Deployment,
    int MaxOngoingRequests,
    int MaxQueuedRequests,
    bool RetryOnFailure,
    IReadOnlyList<ReplicaEndpoint> Replicas,
    bool ScalesFromZero = false)
{
    /// <summary>The entry's key in the store: names cannot hold control characters, so a newline separates them.</summary>
    public static string KeyOf(string application, string deployment) => application + "\n" + deployment;

    [JsonIgnore] public string Key => KeyOf(Application, Deployment);

    public bool SameAs(RouteEntry other) =>
        RoutePrefix == other.RoutePrefix && Application == other.Application && Deployment == other.Deployment &&
        MaxOngoingRequests == other.MaxOngoingRequests && MaxQueuedRequests == other.MaxQueuedRequests &&
        RetryOnFailure == other.RetryOnFailure && ScalesFromZero == other.ScalesFromZero && Replicas.SequenceEqual(other.Replicas);
}

public sealed record ReplicaEndpoint(string ReplicaId, string Url, string NodeId);

/// <summary>
/// What one proxy reports for the autoscaler: per deployment entry key (<see cref="RouteEntry.Key"/>),
/// the requests it has in flight to that deployment's replicas plus those queued for one, at <see cref="AtMs"/>.
/// </summary>
public sealed record OngoingRequestsReport(string Proxy, long AtMs, IReadOnlyDictionary<string, int> Deployments);
