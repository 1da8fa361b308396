namespace ServeAspire.Proxy.LoadBalancing;

/// <summary>Randomness as a seam, so replica choice is deterministic in tests.</summary>
public interface IRandomSource
{
    int Next(int maxExclusive);
}

internal sealed class SharedRandomSource : IRandomSource
{
    public int Next(int maxExclusive) => Random.Shared.Next(maxExclusive);
}
