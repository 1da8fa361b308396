using ServeAspire.Model;
using ServeAspire.Proxy.Routing;

namespace ServeAspire.Proxy.LoadBalancing;

/// <summary>One <see cref="DeploymentRouter"/> per (application, deployment), kept in step with the routing table.</summary>
internal sealed class RouterRegistry
{
    private readonly PowerOfTwoChoicesPolicy _policy;
    private readonly Lock _lock = new();
    private Dictionary<(string, string), DeploymentRouter> _routers = [];

    public RouterRegistry(RoutingTableState state, PowerOfTwoChoicesPolicy policy)
    {
        _policy = policy;
        state.Changed += Apply;
        if (state.Current.Loaded) Apply(state.Current.Table);
    }

    public DeploymentRouter? Get(RouteEntry route) =>
        Volatile.Read(ref _routers).TryGetValue((route.Application, route.Deployment), out var r) ? r : null;

    private void Apply(RoutingTable table)
    {
        lock (_lock)
        {
            var next = new Dictionary<(string, string), DeploymentRouter>();
            foreach (var route in table.Routes)
            {
                var key = (route.Application, route.Deployment);
                var router = _routers.TryGetValue(key, out var existing) ? existing : new DeploymentRouter(_policy);
                router.Update(route);
                next[key] = router;
            }
            Volatile.Write(ref _routers, next);
        }
    }
}
