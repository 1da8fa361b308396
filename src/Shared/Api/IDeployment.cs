using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace ServeAspire;

/// <summary>
/// A deployment class: one instance lives in each replica process. The constructor runs once at
/// replica start (it may be slow: the replica is <c>STARTING</c> until it returns).
/// </summary>
public interface IDeployment
{
    /// <summary>
    /// Handles one HTTP request (Ray's <c>__call__</c>). The result is written as the response:
    /// an <see cref="IResult"/> is executed, a string is text/plain, anything else is JSON.
    /// </summary>
    Task<object?> CallAsync(HttpRequest request, CancellationToken cancellationToken);
}

/// <summary>The C# twin of Ray's <c>check_health</c>: throws when the replica is unhealthy.</summary>
public interface IHealthCheckedDeployment
{
    Task CheckHealthAsync();
}

/// <summary>
/// The C# twin of Ray's <c>reconfigure</c>: a deployment that takes a <c>user_config</c>. Called once
/// after the constructor (before the replica counts as RUNNING) and again, on every running replica,
/// whenever the config's <c>user_config</c> changes: a lightweight update, no restart. A deployment
/// that does not implement it cannot be given a <c>user_config</c> (the PUT gets a 400).
/// </summary>
public interface IReconfigurable
{
    /// <summary>Applies <paramref name="userConfig"/>; an exception leaves the replica on its previous config (reported in the status).</summary>
    Task ReconfigureAsync(JsonElement userConfig, CancellationToken cancellationToken);
}
