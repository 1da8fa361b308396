using Microsoft.AspNetCore.Http;

namespace ServeAspire.UnitTests;

// Deployment classes for resolver and precedence tests (import path "ServeAspire.UnitTests:<Name>").

[Deployment(NumReplicas = 3, MaxOngoingRequests = 7, HealthCheckPeriodS = 4)]
public sealed class AttributedDeployment : IDeployment
{
    public Task<object?> CallAsync(HttpRequest request, CancellationToken cancellationToken) => Task.FromResult<object?>("ok");
}

[Deployment(Name = "Renamed")]
public sealed class NamedDeployment : IDeployment
{
    public Task<object?> CallAsync(HttpRequest request, CancellationToken cancellationToken) => Task.FromResult<object?>("ok");
}

public sealed class NotADeployment
{
}

public abstract class AbstractDeployment : IDeployment
{
    public abstract Task<object?> CallAsync(HttpRequest request, CancellationToken cancellationToken);
}
