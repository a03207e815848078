namespace ActorCluster.Grains.Raft;

/// <summary>
/// The only source of randomness the core uses (election timeout jitter). Injected so that a
/// seeded source makes every run reproducible.
/// </summary>
public interface IRaftRandom
{
    /// <summary>Returns a value in [0, <paramref name="maxExclusive"/>).</summary>
    int Next(int maxExclusive);
}
