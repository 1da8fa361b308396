using System.Net;
using System.Net.Http.Json;
using ServeAspire.Model;

namespace ServeAspire.Controller.Nodes;

internal sealed class HttpNodeClient(IHttpClientFactory factory) : INodeClient
{
    public const string ClientName = "nodes";

    private HttpClient Client => factory.CreateClient(ClientName);

    public async Task<NodeReplicasResponse?> ListReplicasAsync(NodeRegistration node, CancellationToken cancellationToken)
    {
        try
        {
            return await Client.GetFromJsonAsync<NodeReplicasResponse>($"{node.Address}/replicas", SerializerOptions.Default, cancellationToken);
        }
        catch (Exception)
        {
            // Timeouts, refusals, open circuits, garbage: all mean "no news from this node this tick".
            return null;
        }
    }

    public async Task<(bool, string?)> StartReplicaAsync(NodeRegistration node, StartReplicaRequest request, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await Client.PostAsJsonAsync($"{node.Address}/replicas", request, SerializerOptions.Default, cancellationToken);
            return response.IsSuccessStatusCode ? (true, null) : (false, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }
        catch (Exception ex)
        {
            return (false, ex.Message);
        }
    }

    public async Task<(bool, bool)> StopReplicaAsync(NodeRegistration node, string replicaId, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await Client.DeleteAsync($"{node.Address}/replicas/{Uri.EscapeDataString(replicaId)}", cancellationToken);
            return (response.IsSuccessStatusCode, response.StatusCode == HttpStatusCode.NotFound);
        }
        catch (Exception)
        {
            return (false, false);
        }
    }
}
