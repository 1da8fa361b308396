using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ServeAspire.AppHost.Dashboard;

/// <summary>
/// What the dashboard shows beyond Aspire's own resources: the <c>serve</c> cluster resource, one
/// resource per replica under its node, and the failure drills as commands (docs/dashboard.md).
/// </summary>
internal static class DashboardExtensions
{
    public const string ClusterResourceName = "serve";

    public static void AddServeDashboard(this IDistributedApplicationBuilder builder, ServeOptions serve, IResourceBuilder<ParameterResource>? token,
        IEnumerable<IResourceBuilder<ProjectResource>> nodes)
    {
        var api = new ServeApiClient(serve, async ct => token is null ? null : await token.Resource.GetValueAsync(ct));
        var configFile = ServeResourceExtensions.DefaultServeConfig(builder, serve);
        var drills = new FailureDrills(api, configFile, TimeProvider.System);

        foreach (var node in nodes)
        {
            var nodeId = node.Resource.Name;
            node.WithCommand(FailureDrills.KillNode, "Kill node (SIGKILL)", c => drills.SignalNodeAsync(nodeId, drain: false, c.Logger, c.CancellationToken), new CommandOptions
            {
                Description = "Failure drill: SIGKILL to the node agent; its replicas die with it and are placed on the other nodes. The restart policy brings the agent back.",
                ConfirmationMessage = $"Kill {nodeId} and every replica on it?",
                IconName = "Flash",
            }).WithCommand(FailureDrills.DrainNode, "Drain node (SIGTERM)", c => drills.SignalNodeAsync(nodeId, drain: true, c.Logger, c.CancellationToken), new CommandOptions
            {
                Description = "Failure drill: SIGTERM to the node agent; it drains its replicas (replacements start elsewhere first) and exits. The restart policy brings it back empty.",
                ConfirmationMessage = $"Drain {nodeId}?",
                IconName = "ArrowExportRtl",
            });
        }

        var cluster = builder.AddResource(new ServeClusterResource(ClusterResourceName))
            .ExcludeFromManifest()
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = ServeClusterResource.ResourceType,
                State = new ResourceStateSnapshot(KnownResourceStates.Waiting, KnownResourceStateStyles.Info),
                Properties = [new("serve.config", configFile), new("serve.controller", serve.ControllerUrl)],
            })
            .WithCommand(FailureDrills.FailOver, "Fail the controller over", c => drills.FailOverAsync(c.Logger, c.CancellationToken), new CommandOptions
            {
                Description = "Failure drill: SIGKILL to the leading controller; a standby takes the lease and recovers. The restart policy brings the killed one back as a standby.",
                ConfirmationMessage = "Kill the leading controller?",
                IconName = "ArrowSwap",
            })
            .WithCommand(FailureDrills.Reapply, "Re-apply serve.yaml", c => drills.ReapplyAsync(c.Logger, c.CancellationToken), new CommandOptions
            {
                Description = $"PUT {Path.GetFileName(configFile)} to the controller again, as at start (undoes any scaling or config change since).",
                IconName = "ArrowSync",
            })
            .WithCommand(FailureDrills.Scale, "Scale a deployment…", c => drills.ScaleAsync(c.Arguments.GetString("deployment") ?? "", c.Arguments.GetInt32("replicas"), c.Logger, c.CancellationToken), new CommandOptions
            {
                Description = "Set num_replicas of one deployment in the config the controller runs (a config PUT).",
                IconName = "ArrowAutofitHeight",
                Arguments =
                [
                    new InteractionInput { Name = "deployment", Label = "Deployment", InputType = InputType.Text, Required = true, Placeholder = "SleepyPid, or application/deployment" },
                    new InteractionInput { Name = "replicas", Label = "Replicas", InputType = InputType.Number, Required = true, Placeholder = "6" },
                ],
            });

        builder.Services.AddSingleton(api);
        builder.Services.AddSingleton(drills);
        builder.Services.AddHostedService(sp =>
        {
            var publisher = ActivatorUtilities.CreateInstance<ReplicaResourcePublisher>(sp, api, cluster.Resource, TimeProvider.System);
            publisher.Decorate = replica => replica.Annotations.Add(new ResourceCommandAnnotation(
                FailureDrills.KillReplica, "Kill replica",
                ctx => ctx.ResourceSnapshot.State?.Text is "Exited" or "Finished" ? ResourceCommandState.Disabled : ResourceCommandState.Enabled,
                c => drills.KillReplicaAsync(replica.ReplicaId, c.Logger, c.CancellationToken),
                "Failure drill: ray.kill of this replica (POST /api/actors/{id}/kill, no_restart); the controller starts a replacement.",
                null, $"Kill replica {replica.ReplicaId}?", "Delete", null, false));
            return publisher;
        });
    }
}
