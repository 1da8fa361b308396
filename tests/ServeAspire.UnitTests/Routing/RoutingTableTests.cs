using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.Routing;
using ServeAspire.Model;
using ServeAspire.Proxy.LoadBalancing;
using ServeAspire.Proxy.Routing;

namespace ServeAspire.UnitTests.Routing;

public sealed class RoutingTableTests
{
    private static RouteEntry Route(string prefix, params string[] replicas) =>
        new(prefix, "app", "Dep", 5, -1, false, replicas.Select(r => new ReplicaEndpoint(r, $"http://127.0.0.1:{1000 + r.Length}/{r}", "node-0")).ToList());

    [Fact]
    public void Next_BumpsTheVersion_OnlyWhenRoutesChange()
    {
        var v1 = RoutingTablePublisher.Next(RoutingTable.Empty, null, [Route("/", "a")]);
        Assert.Equal(1, v1.Version);
        Assert.Same(v1, RoutingTablePublisher.Next(v1, null, [Route("/", "a")]));
        var v2 = RoutingTablePublisher.Next(v1, null, [Route("/", "a", "b")]);
        Assert.Equal(2, v2.Version);
        Assert.Equal(3, RoutingTablePublisher.Next(v2, 30, v2.Routes).Version); // timeout change is a change
    }

    [Fact]
    public void FirstTable_IsPublishedEvenWhenEmpty()
    {
        Assert.Equal(1, RoutingTablePublisher.Next(RoutingTable.Empty, null, []).Version);
    }

    [Fact]
    public async Task Publisher_ContinuesFromTheStoredVersion()
    {
        var store = new FakeStore { Stored = new RoutingTable(41, null, [Route("/", "a")]) };
        var publisher = new RoutingTablePublisher(store);
        var same = await publisher.PublishAsync(null, [Route("/", "a")], 1, CancellationToken.None);
        Assert.Equal(41, same.Version);
        Assert.Equal(0, store.Publishes);
        var next = await publisher.PublishAsync(null, [Route("/", "b")], 1, CancellationToken.None);
        Assert.Equal(42, next.Version);
        Assert.Equal(1, store.Publishes);
    }

    [Fact]
    public async Task Publisher_AfterTheStoreLostItsData_PublishesAVersionAboveEveryEarlierOne()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20000));
        var store = new FakeStore();
        var before = await new RoutingTablePublisher(store, clock).PublishAsync(null, [Route("/", "a")], 1, CancellationToken.None);
        clock.Advance(TimeSpan.FromSeconds(5));
        store.Stored = null; // Redis came back empty: the stored version is gone, and a new leader starts over
        var after = await new RoutingTablePublisher(store, clock).PublishAsync(null, [Route("/", "a")], 1, CancellationToken.None);
        Assert.True(after.Version > before.Version, $"{after.Version} after the data loss, {before.Version} before");
    }

    [Fact]
    public void ProxyState_AppliesOnlyNewerVersions()
    {
        var state = new RoutingTableState(new PowerOfTwoChoicesPolicy(new SharedRandomSource()));
        Assert.False(state.Current.Loaded);
        Assert.True(state.TryApply(new RoutingTable(5, null, [Route("/", "a")])));
        Assert.False(state.TryApply(new RoutingTable(4, null, [Route("/", "old")])));
        Assert.False(state.TryApply(new RoutingTable(5, null, [Route("/", "same-version")])));
        Assert.Equal("a", state.Current.Table.Routes[0].Replicas[0].ReplicaId);
        Assert.True(state.TryApply(new RoutingTable(6, null, [])));
        Assert.True(state.Current.Loaded);
    }

    private static RouteEntry RouteOf(string app, string prefix, params string[] replicas) =>
        Route(prefix, replicas) with { Application = app };

    [Fact]
    public async Task Publisher_SendsOnlyTheEntriesThatChanged_AndNamesTheRemovedOnes()
    {
        var store = new Fakes.FakeClusterStore();
        var publisher = new RoutingTablePublisher(store);
        var v1 = await publisher.PublishAsync(null, [RouteOf("a", "/a", "r1"), RouteOf("b", "/b", "r2"), RouteOf("c", "/c", "r3")], 1, default);
        Assert.All(v1.Routes, r => Assert.Equal(v1.Version, v1.EntryVersions[r.Key])); // all new

        var v2 = await publisher.PublishAsync(null, [RouteOf("a", "/a", "r1"), RouteOf("b", "/b", "r2", "r4")], 1, default);
        Assert.Equal(v1.Version, v2.EntryVersions[RouteEntry.KeyOf("a", "Dep")]); // unchanged: keeps its version, not re-sent
        Assert.Equal(v2.Version, v2.EntryVersions[RouteEntry.KeyOf("b", "Dep")]);
        Assert.Equal([RouteEntry.KeyOf("c", "Dep")], store.RoutePublishes[^1].Removed);
        Assert.Equal(v2.Version, v2.ToIndex().Version);
        Assert.Equal(2, v2.ToIndex().Entries.Count);
    }

    [Fact]
    public void ProxyState_SwapsTableAndRoutersTogether_AndKeepsTheRoutersOfUnchangedDeployments()
    {
        var state = new RoutingTableState(new PowerOfTwoChoicesPolicy(new SharedRandomSource()));
        var v1 = RoutingTablePublisher.Next(RoutingTable.Empty, null, [RouteOf("a", "/a", "r1"), RouteOf("b", "/b", "r2")]);
        Assert.True(state.TryApply(v1));
        var routerA = state.Current.RouterFor(v1.Routes[0]);
        var routerB = state.Current.RouterFor(v1.Routes[1]);
        Assert.NotNull(routerA);

        var v2 = RoutingTablePublisher.Next(v1, null, [RouteOf("a", "/a", "r1"), RouteOf("b", "/b", "r2", "r3"), RouteOf("c", "/c", "r5")]);
        Assert.True(state.TryApply(v2));
        var snapshot = state.Current;
        Assert.Same(routerA, snapshot.RouterFor(v2.Routes[0])); // unchanged: same router, same in-flight counts
        Assert.Same(routerB, snapshot.RouterFor(v2.Routes[1])); // changed: updated in place
        Assert.Equal(2, routerB!.Slots.Count);
        // The new route and its router arrive in the same snapshot: no request can match it and find no router.
        var c = snapshot.Matcher.Match("/c");
        Assert.NotNull(c);
        Assert.Single(snapshot.RouterFor(c!)!.Slots);
    }

    [Fact]
    public async Task ProxyState_BoundsColdStartsOnlyWithoutRequestTimeout_AndTellsTheWaitersOfARemovedDeployment()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var state = new RoutingTableState(new PowerOfTwoChoicesPolicy(new SharedRandomSource()), clock, TimeSpan.FromSeconds(60));
        var cold = Route("/") with { ScalesFromZero = true };
        Assert.True(state.TryApply(new RoutingTable(1, null, [cold])));
        var router = state.Current.RouterFor(cold)!;
        Assert.Equal(TimeSpan.FromSeconds(60), router.ColdStartTimeout);
        Assert.True(state.TryApply(new RoutingTable(2, 30, [cold])));
        Assert.Equal(Timeout.InfiniteTimeSpan, router.ColdStartTimeout); // request_timeout_s bounds it: 408 at the proxy

        var waiting = router.AcquireAsync(null, CancellationToken.None).AsTask();
        Assert.False(waiting.IsCompleted);
        Assert.True(state.TryApply(new RoutingTable(3, 30, []))); // the application was deleted: no replica will come
        Assert.Equal(DeploymentRouter.AcquireStatus.NoReplicas, (await waiting.WaitAsync(TimeSpan.FromSeconds(5))).Status);
    }

    [Fact]
    public void RouteEntry_StoredBeforeScaleFromZero_StillReads_AsNotScalingFromZero()
    {
        var json = System.Text.Json.JsonSerializer.SerializeToNode(Route("/", "r1"), SerializerOptions.Default)!.AsObject();
        Assert.True(json.Remove("scales_from_zero"));
        var entry = System.Text.Json.JsonSerializer.Deserialize<RouteEntry>(json, SerializerOptions.Default)!;
        Assert.False(entry.ScalesFromZero);
        Assert.True(entry.SameAs(Route("/", "r1")));
        Assert.False(entry.SameAs(entry with { ScalesFromZero = true })); // a change of it is published
    }

    [Fact]
    public void ProxyState_RecordsHowLongEachVersionTookToArrive()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20000));
        var state = new RoutingTableState(new PowerOfTwoChoicesPolicy(new SharedRandomSource()), clock);
        var published = clock.GetUtcNow().ToUnixTimeMilliseconds();
        clock.Advance(TimeSpan.FromMilliseconds(7));
        Assert.True(state.TryApply(new RoutingTable(5, null, [Route("/", "a")]) { PublishedAtMs = published }));
        Assert.Equal([(5L, 7.0)], state.RecentUpdates);
    }

    [Theory]
    [InlineData("/", "/")]
    [InlineData("/anything/else", "/")]
    [InlineData("/api", "/api")]
    [InlineData("/api/", "/api")]
    [InlineData("/api/v1/x", "/api/v1")]
    [InlineData("/apix", "/")]
    public void Matcher_PicksTheLongestMatchingPrefix(string path, string expected)
    {
        var matcher = new RouteMatcher([Route("/"), Route("/api"), Route("/api/v1")]);
        Assert.Equal(expected, matcher.Match(path)?.RoutePrefix);
    }

    [Fact]
    public void Matcher_WithoutRootRoute_ReturnsNullForUnknownPaths()
    {
        var matcher = new RouteMatcher([Route("/api")]);
        Assert.Null(matcher.Match("/other"));
        Assert.Null(matcher.Match("/"));
    }

    private sealed class FakeStore : IClusterStore
    {
        public RoutingTable? Stored;
        public int Publishes;
        public Task<RoutingTable?> LoadRoutesAsync(CancellationToken cancellationToken) => Task.FromResult(Stored);
        public Task ForgetRegistrationAsync(string kind, string id, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<IReadOnlyList<OngoingRequestsReport>> GetOngoingRequestsAsync(CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task PublishRoutesAsync(RoutingTable table, IReadOnlyCollection<string> removedKeys, long token, CancellationToken cancellationToken)
        {
            Stored = table;
            Publishes++;
            return Task.CompletedTask;
        }
        public Task<IReadOnlyList<(NodeRegistration Registration, bool Alive)>> GetNodesAsync(CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<IReadOnlyList<(ProxyRegistration Registration, bool Alive)>> GetProxiesAsync(CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<string?> LoadConfigAsync(CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task SaveConfigAsync(string checkpoint, long token, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<string?> LoadStateAsync(CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task SaveStateAsync(string checkpoint, long token, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<bool> IsTokenCurrentAsync(long token, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<long> CurrentTokenAsync(CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task SubscribeEventsAsync(Action<ClusterEvent> onEvent) => throw new NotSupportedException();
        public Task<long> AcquireLeaseAsync(string holder, string address, TimeSpan ttl, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<bool> RenewLeaseAsync(string holder, long token, TimeSpan ttl, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task ReleaseLeaseAsync(string holder, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<ServeAspire.Controller.Leadership.LeaseView?> GetLeaseAsync(CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
