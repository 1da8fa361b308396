namespace ServeAspire.AppHost;

/// <summary>
/// redis-server run as an executable, exposing its connection string like Aspire's container
/// Redis does, so <c>WithReference(redis)</c> gives each service <c>ConnectionStrings__redis</c>.
/// </summary>
internal sealed class RedisServerResource(string name, string workingDirectory, int port, ParameterResource password)
    : ExecutableResource(name, "redis-server", workingDirectory), IResourceWithConnectionString
{
    public int Port { get; } = port;
    public ParameterResource Password { get; } = password;

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"127.0.0.1:{Port.ToString(System.Globalization.CultureInfo.InvariantCulture)},password={Password},abortConnect=false");
}
