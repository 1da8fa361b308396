using ServeAspire.Config;
using ServeAspire.Model;

namespace ServeAspire.Controller.Deployments;

/// <summary>One application: its submitted config and its deployments (Ray's ApplicationState).</summary>
public sealed class ApplicationState(ApplicationConfig config, DateTimeOffset deployedAt)
{
    public ApplicationConfig Config { get; set; } = config;
    public DateTimeOffset DeployedAt { get; set; } = deployedAt;
    public Dictionary<string, DeploymentState> Deployments { get; } = [];
    public bool Deleting { get; set; }

    public string Name => Config.Name;

    /// <summary>The worst deployment status wins (Ray's ranking).</summary>
    public (ApplicationStatus Status, string Message) Status()
    {
        if (Deleting) return (ApplicationStatus.DELETING, "Deleting.");
        var deps = Deployments.Values.ToList();
        if (deps.Any(d => d.Status == DeploymentStatus.DEPLOY_FAILED))
            return (ApplicationStatus.DEPLOY_FAILED, string.Join(" ", deps.Where(d => d.Status == DeploymentStatus.DEPLOY_FAILED).Select(d => $"Deployment '{d.Spec.Name}': {d.Message}")));
        if (deps.Any(d => d.Status == DeploymentStatus.UNHEALTHY))
            return (ApplicationStatus.UNHEALTHY, "The application has unhealthy deployments.");
        if (deps.Count == 0 || deps.Any(d => d.Status != DeploymentStatus.HEALTHY))
            return (ApplicationStatus.DEPLOYING, "");
        return (ApplicationStatus.RUNNING, "");
    }
}
