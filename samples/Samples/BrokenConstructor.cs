using Microsoft.AspNetCore.Http;
using ServeAspire;

namespace Samples;

/// <summary>A deployment whose constructor always throws (a model that cannot load): ends DEPLOY_FAILED.</summary>
[Deployment(NumReplicas = 1, MaxConstructorRetryCount = 3)]
public sealed class BrokenConstructor : IDeployment
{
    public BrokenConstructor() => throw new InvalidOperationException("model weights not found at /models/missing.bin");

    public Task<object?> CallAsync(HttpRequest request, CancellationToken cancellationToken) => Task.FromResult<object?>(null);
}
