namespace ServeAspire.AppHost;

/// <summary>
/// redis-server (or a Sentinel) run as an executable, exposing the store's connection string like Aspire's
/// container Redis does (the dashboard shows it; the services get it as <c>ConnectionStrings__redis</c>).
/// </summary>
internal sealed class RedisServerResource(string name, string workingDirectory, int port, ParameterResource password, ReferenceExpression connectionString,
    string command = "redis-server")
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public int Port { get; } = port;
    public ParameterResource Password { get; } = password;

    public ReferenceExpression ConnectionStringExpression { get; } = connectionString;
}
