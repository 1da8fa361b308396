using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ServeAspire;

namespace Samples;

/// <summary>
/// A deployment that takes a <c>user_config</c> (Ray's <c>reconfigure</c>): it answers its process id,
/// the <c>message</c> from the user_config it was last given, how many times it was reconfigured, and
/// <c>MODEL_VERSION</c> from its environment (set by the application's <c>runtime_env.env_vars</c>).
/// A user_config change reaches every running replica in place (same PIDs); a MODEL_VERSION change
/// is a new version and rolls. Knobs for the failure tests: <c>user_config: { fail: true }</c> is
/// refused by ReconfigureAsync; <c>MODEL_VERSION: broken</c> makes the constructor throw, like a new
/// release that cannot load its model. <c>?ms=50</c> makes a call take that long first (at most 10 s);
/// <c>?pid</c> answers the process id alone (what the tests' load generator reads).
/// </summary>
[Deployment(NumReplicas = 2, MaxOngoingRequests = 5)]
public sealed class Configurable : IDeployment, IReconfigurable
{
    private readonly string? _modelVersion = Environment.GetEnvironmentVariable("MODEL_VERSION");
    private string _message = "";
    private int _reconfigures;

    public Configurable()
    {
        if (_modelVersion == "broken") throw new InvalidOperationException("model version 'broken' cannot be loaded");
    }

    public Task ReconfigureAsync(JsonElement userConfig, CancellationToken cancellationToken)
    {
        if (userConfig.TryGetProperty("fail", out var fail) && fail.ValueKind == JsonValueKind.True)
            throw new ArgumentException("user_config asks to fail (fail: true)");
        Volatile.Write(ref _message, userConfig.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "");
        Interlocked.Increment(ref _reconfigures);
        return Task.CompletedTask;
    }

    public async Task<object?> CallAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (int.TryParse(request.Query["ms"], NumberStyles.None, CultureInfo.InvariantCulture, out var ms) && ms > 0)
            await Task.Delay(Math.Min(ms, 10_000), cancellationToken);
        if (request.Query.ContainsKey("pid")) return Environment.ProcessId;
        return new { pid = Environment.ProcessId, message = Volatile.Read(ref _message), reconfigures = Volatile.Read(ref _reconfigures), model_version = _modelVersion };
    }
}
