using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace ServeAspire.AppHost.Store;

/// <summary>
/// Just enough RESP for the AppHost's own questions to its store (health PINGs, "which node is primary?"):
/// AUTH, then one command; the reply's strings, or null when the server does not answer or refuses.
/// </summary>
internal static class Resp
{
    public static async Task<IReadOnlyList<string>?> CommandAsync(int port, string password, string? caFile, CancellationToken ct, params string[] command)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port, timeout.Token);
            Stream stream = client.GetStream();
            if (caFile is not null)
            {
                // The same validation the services do: the server's certificate chains to our CA and names 127.0.0.1.
                using var ca = X509Certificate2.CreateFromPem(File.ReadAllText(caFile));
                var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
                policy.CustomTrustStore.Add(ca);
                var ssl = new SslStream(stream);
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "127.0.0.1", CertificateChainPolicy = policy }, timeout.Token);
                stream = ssl;
            }
            await using var _ = stream;
            await stream.WriteAsync(Encode(["AUTH", password]).Concat(Encode(command)).ToArray(), timeout.Token);
            var reader = new Reader(stream);
            var auth = await reader.ReadAsync(timeout.Token);
            if (auth is not ["OK"]) return null;
            return await reader.ReadAsync(timeout.Token);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or System.Security.Cryptography.CryptographicException or FormatException)
        {
            return null;
        }
    }

    private static byte[] Encode(string[] args)
    {
        var sb = new StringBuilder($"*{args.Length}\r\n");
        foreach (var a in args) sb.Append($"${Encoding.UTF8.GetByteCount(a)}\r\n{a}\r\n");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private sealed class Reader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[4096];
        private int _start, _end;

        private async Task<string> LineAsync(CancellationToken ct)
        {
            while (true)
            {
                for (var i = _start; i + 1 < _end; i++)
                    if (_buffer[i] == '\r' && _buffer[i + 1] == '\n')
                    {
                        var line = Encoding.UTF8.GetString(_buffer, _start, i - _start);
                        _start = i + 2;
                        return line;
                    }
                if (_start > 0)
                {
                    Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }
                if (_end == _buffer.Length) throw new FormatException("reply line too long");
                var n = await stream.ReadAsync(_buffer.AsMemory(_end), ct);
                if (n == 0) throw new IOException("connection closed");
                _end += n;
            }
        }

        /// <summary>A simple string, bulk string or array of them, flattened; null for an error or a nil.</summary>
        public async Task<IReadOnlyList<string>?> ReadAsync(CancellationToken ct)
        {
            var line = await LineAsync(ct);
            switch (line[0])
            {
                case '+': return [line[1..]];
                case ':': return [line[1..]];
                case '-': return null;
                case '$':
                    return int.Parse(line.AsSpan(1)) < 0 ? null : [await LineAsync(ct)];
                case '*':
                    var count = int.Parse(line.AsSpan(1));
                    if (count < 0) return null;
                    var items = new List<string>(count);
                    for (var i = 0; i < count; i++) items.AddRange(await ReadAsync(ct) ?? []);
                    return items;
                default: throw new FormatException($"unexpected reply '{line}'");
            }
        }
    }
}
