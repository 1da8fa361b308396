using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace ServeAspire.ReplicaHost.Nodes;

/// <summary>
/// What a node registers for itself and its replicas when they listen on a wildcard (0.0.0.0, [::]),
/// as in a container: a wildcard is not an address another process can call, so the host part becomes
/// <see cref="NodeOptions.AdvertisedHost"/>, else this machine's first non-loopback IPv4 address (a pod's IP).
/// </summary>
internal static class AdvertisedAddress
{
    public static string Resolve(string url, string? configuredHost)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri)) return url;
        var host = uri.Host.Trim('[', ']');
        if (host is not ("0.0.0.0" or "::" or "+" or "*")) return url;
        var advertised = string.IsNullOrWhiteSpace(configuredHost) ? FirstNonLoopbackAddress() : configuredHost;
        return new UriBuilder(uri) { Host = advertised }.Uri.ToString().TrimEnd('/');
    }

    private static string FirstNonLoopbackAddress() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))?.ToString()
        ?? throw new InvalidOperationException("listening on a wildcard address, but this machine has no non-loopback IPv4 address to register: set Node:AdvertisedHost");
}
