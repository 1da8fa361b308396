using System.Net;
using System.Net.Http.Json;
using ServeAspire.Controller.Leadership;
using ServeAspire.Model;
using ServeAspire.Security;

namespace ServeAspire.Controller.Nodes;

internal sealed class HttpNodeClient(IHttpClientFactory factory) : INodeClient
{
    public const string ClientName = "nodes";

    private HttpClient Client => factory.CreateClient(ClientName);

    /// <summary>A call that carries this tenure's fencing token (the cluster token is on the client).</summary>
    private static HttpRequestMessage Fenced(HttpMethod method, string url, long leaderToken)
    {
        var message = new HttpRequestMessage(method, url);
        message.Headers.Add(LeaderTokens.Header, leaderToken.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return message;
    }

    /// <summary>409 is the node's answer to a fencing token older than one it has seen: a newer leader exists.</summary>
    private static void ThrowIfFenced(HttpResponseMessage response, NodeRegistration node, long leaderToken)
    {
        if (response.StatusCode == HttpStatusCode.Conflict) throw new FencedException(leaderToken, node.NodeId);
    }

    public async Task<NodeListResult> ListReplicasAsync(NodeRegistration node, long leaderToken, CancellationToken cancellationToken)
    {
        try
        {
            using var message = Fenced(HttpMethod.Get, $"{node.Address}/replicas", leaderToken);
            using var response = await Client.SendAsync(message, cancellationToken);
            response.EnsureSuccessStatusCode();
            var replicas = await response.Content.ReadFromJsonAsync<NodeReplicasResponse>(SerializerOptions.Default, cancellationToken);
            // A new incarnation on the same address answers for itself, not for the registration we hold.
            return replicas is not null && replicas.InstanceId == node.InstanceId ? new NodeListResult(replicas, false) : NodeListResult.NoAnswer;
        }
        catch (HttpRequestException ex) when (ex.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused })
        {
            return new NodeListResult(null, true);
        }
        catch (Exception)
        {
            // Timeouts, open circuits, garbage: "no news from this node this tick".
            return NodeListResult.NoAnswer;
        }
    }

    public async Task<(bool, string?)> StartReplicaAsync(NodeRegistration node, StartReplicaRequest request, long leaderToken, CancellationToken cancellationToken)
    {
        try
        {
            using var message = Fenced(HttpMethod.Post, $"{node.Address}/replicas", leaderToken);
            message.Content = JsonContent.Create(request, options: SerializerOptions.Default);
            using var response = await Client.SendAsync(message, cancellationToken);
            ThrowIfFenced(response, node, leaderToken);
            return response.IsSuccessStatusCode ? (true, null) : (false, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }
        catch (Exception ex) when (ex is not FencedException)
        {
            return (false, ex.Message);
        }
    }

    public async Task<bool> ReconfigureReplicaAsync(NodeRegistration node, string replicaId, ReconfigureReplicaRequest request, long leaderToken, CancellationToken cancellationToken)
    {
        try
        {
            using var message = Fenced(HttpMethod.Post, $"{node.Address}/replicas/{Uri.EscapeDataString(replicaId)}/reconfigure", leaderToken);
            message.Content = JsonContent.Create(request, options: SerializerOptions.Default);
            using var response = await Client.SendAsync(message, cancellationToken);
            ThrowIfFenced(response, node, leaderToken);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is not FencedException)
        {
            return false;
        }
    }

    public async Task<(ReplicaProcessInfo?, string?)> KillReplicaAsync(NodeRegistration node, string replicaId, KillReplicaRequest request, long leaderToken, CancellationToken cancellationToken)
    {
        try
        {
            using var message = Fenced(HttpMethod.Post, $"{node.Address}/replicas/{Uri.EscapeDataString(replicaId)}/kill", leaderToken);
            message.Content = JsonContent.Create(request, options: SerializerOptions.Default);
            using var response = await Client.SendAsync(message, cancellationToken);
            ThrowIfFenced(response, node, leaderToken);
            return response.IsSuccessStatusCode
                ? (await response.Content.ReadFromJsonAsync<ReplicaProcessInfo>(SerializerOptions.Default, cancellationToken), null)
                : (null, $"node {node.NodeId} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }
        catch (Exception ex) when (ex is not FencedException)
        {
            return (null, $"node {node.NodeId} at {node.Address} did not answer: {ex.Message}");
        }
    }

    public async Task<(bool, bool)> StopReplicaAsync(NodeRegistration node, string replicaId, long leaderToken, CancellationToken cancellationToken)
    {
        try
        {
            using var message = Fenced(HttpMethod.Delete, $"{node.Address}/replicas/{Uri.EscapeDataString(replicaId)}", leaderToken);
            using var response = await Client.SendAsync(message, cancellationToken);
            ThrowIfFenced(response, node, leaderToken);
            return (response.IsSuccessStatusCode, response.StatusCode == HttpStatusCode.NotFound);
        }
        catch (Exception ex) when (ex is not FencedException)
        {
            return (false, false);
        }
    }
}
