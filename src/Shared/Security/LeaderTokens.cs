using System.Globalization;

namespace ServeAspire.Security;

/// <summary>
/// The newest leader (fencing) token a node has seen. A start or stop carrying an older one comes
/// from a deposed leader that has not noticed yet (e.g. it was paused past its lease): refused, so
/// it cannot start or stop replicas behind its successor's back.
/// </summary>
public sealed class LeaderTokens
{
    public const string Header = "X-Serve-Leader-Token";
    private long _newest;

    public long Newest => Interlocked.Read(ref _newest);

    /// <summary>Starts, stops and reconfigures refused because they carried an older leader's token.</summary>
    public long Refused => Interlocked.Read(ref _refused);
    private long _refused;

    /// <summary>Null when <paramref name="header"/> is acceptable (and remembered); otherwise why not.</summary>
    public string? Admit(string? header)
    {
        if (!long.TryParse(header, NumberStyles.None, CultureInfo.InvariantCulture, out var token) || token <= 0)
            return $"missing or malformed {Header}: every start and stop must carry the leader's fencing token";
        var newest = Raise(token);
        if (token >= newest) return null;
        Interlocked.Increment(ref _refused);
        return $"leader token {token} is older than {newest}, the newest this node has seen: a newer controller leads";
    }

    /// <summary>
    /// Remembers a token seen on a read (the leader's list call every tick), refusing nothing: so a
    /// node learns of a new tenure at once, not only at its next start or stop.
    /// </summary>
    public void Observe(string? header)
    {
        if (long.TryParse(header, NumberStyles.None, CultureInfo.InvariantCulture, out var token) && token > 0) _ = Raise(token);
    }

    /// <summary>Makes <paramref name="token"/> the newest if it is; returns the newest after that, atomically.</summary>
    private long Raise(long token)
    {
        while (true)
        {
            var newest = Interlocked.Read(ref _newest);
            if (token <= newest) return newest;
            if (Interlocked.CompareExchange(ref _newest, token, newest) == newest) return token;
        }
    }
}
