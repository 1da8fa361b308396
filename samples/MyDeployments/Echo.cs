using Microsoft.AspNetCore.Http;
using ServeAspire;

namespace MyDeployments;

/// <summary>A user's deployment, outside ServeAspire's own assemblies: answers what it was sent, with a prefix from its user_config-free default.</summary>
[Deployment(NumReplicas = 2)]
public sealed class Echo : IDeployment
{
    public async Task<object?> CallAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(request.Body);
        return $"echo: {await reader.ReadToEndAsync(cancellationToken)}";
    }
}
