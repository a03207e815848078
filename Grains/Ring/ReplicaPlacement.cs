namespace ActorCluster.Grains.Ring;

/// <summary>
/// Where each shard's replicas live: rendezvous (highest-random-weight) hashing of silos per
/// replica slot, with a bounded-load cap. Slot r of a shard goes to the silo with the highest
/// weight for (shard, r) that holds no other replica of that shard and is under the cap, so the
/// replicas of one shard sit on distinct silos whenever there are enough silos, no silo carries
/// more than <c>max(ceil(mean), floor(loadFactor × mean))</c> replicas, and a silo joining or leaving moves close to
/// the ideal share of replicas. Ranking per slot (not per shard) matters: with one ranking per
/// shard, a new best silo would shift every slot of that shard by one place.
/// </summary>
/// <remarks>
/// Pure and deterministic: every silo computes the same placement from the same silo set. The
/// placement also names each shard's preferred leader slot, chosen so that leaders spread over
/// silos as evenly as replicas do (leaders carry the writes and the linearizable reads).
/// </remarks>
public sealed class ReplicaPlacement
{
    private readonly ulong[][] _replicas;
    private readonly Dictionary<ulong, int> _load;
    private readonly int[] _leaderSlots;

    private ReplicaPlacement(ulong[][] replicas, Dictionary<ulong, int> load, int capacity)
    {
        _replicas = replicas;
        _load = load;
        Capacity = capacity;
        _leaderSlots = ChooseLeaders(replicas, load.Keys);
    }

    /// <summary>The most replicas one silo may hold.</summary>
    public int Capacity { get; }

    /// <summary>The number of shards placed.</summary>
    public int ShardCount => _replicas.Length;

    /// <summary>Places <paramref name="replicationFactor"/> replicas of each shard over <paramref name="silos"/>.</summary>
    /// <param name="silos">Stable silo keys (see <see cref="SiloKey"/>); order does not matter.</param>
    /// <param name="shards">The number of shards.</param>
    /// <param name="replicationFactor">Replicas per shard.</param>
    /// <param name="loadFactor">The cap as a multiple of the mean load (at least 1).</param>
    public static ReplicaPlacement Compute(IReadOnlyCollection<ulong> silos, int shards, int replicationFactor, double loadFactor = 1.25)
    {
        ArgumentNullException.ThrowIfNull(silos);
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicationFactor, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(loadFactor, 1.0);
        var distinct = silos.Distinct().Order().ToArray();
        if (distinct.Length == 0)
        {
            throw new ArgumentException("At least one silo is needed.", nameof(silos));
        }

        var total = shards * replicationFactor;
        // Rounded down, so that no silo ever holds more than loadFactor x mean (a joining silo's
        // share bounds the replicas that move to it); never below the mean, which must fit.
        var mean = (double)total / distinct.Length;
        var capacity = Math.Max((int)Math.Ceiling(mean), (int)Math.Floor(loadFactor * mean));
        var load = distinct.ToDictionary(s => s, _ => 0);
        var replicas = new ulong[shards][];
        var ranking = new ulong[distinct.Length];
        for (var shard = 0; shard < shards; shard++)
        {
            var chosen = new ulong[replicationFactor];
            for (var slot = 0; slot < replicationFactor; slot++)
            {
                RankSilos(distinct, shard, slot, ranking);
                chosen[slot] = Choose(ranking, chosen.AsSpan(0, slot), load, capacity);
                load[chosen[slot]]++;
            }

            replicas[shard] = chosen;
        }

        RepairOverCap(replicas, load, capacity, distinct, ranking);
        return new ReplicaPlacement(replicas, load, capacity);
    }

    /// <summary>
    /// The greedy pass goes over the cap when every silo new to a shard is already full (a late
    /// shard can find only full silos left). Each such replica moves, where it can, to the
    /// best-ranked silo for its slot that is under the cap and new to the shard.
    /// </summary>
    private static void RepairOverCap(ulong[][] replicas, Dictionary<ulong, int> load, int capacity, ulong[] silos, ulong[] ranking)
    {
        foreach (var over in silos)
        {
            for (var shard = 0; shard < replicas.Length && load[over] > capacity; shard++)
            {
                var slot = Array.IndexOf(replicas[shard], over);
                if (slot < 0)
                {
                    continue;
                }

                RankSilos(silos, shard, slot, ranking);
                foreach (var candidate in ranking)
                {
                    if (load[candidate] < capacity && Array.IndexOf(replicas[shard], candidate) < 0)
                    {
                        replicas[shard][slot] = candidate;
                        load[over]--;
                        load[candidate]++;
                        break;
                    }
                }
            }
        }
    }

    /// <summary>The silo of replica <paramref name="slot"/> of <paramref name="shard"/>.</summary>
    public ulong SiloOf(int shard, int slot) => _replicas[shard][slot];

    /// <summary>The silos of every replica of <paramref name="shard"/>, by slot.</summary>
    public IReadOnlyList<ulong> ReplicasOf(int shard) => _replicas[shard];

    /// <summary>The number of replicas placed on <paramref name="silo"/>.</summary>
    public int LoadOf(ulong silo) => _load.GetValueOrDefault(silo);

    /// <summary>The slot (0-based) that should lead <paramref name="shard"/> when it is healthy.</summary>
    public int LeaderSlotOf(int shard) => _leaderSlots[shard];

    /// <summary>The number of shards whose preferred leader sits on <paramref name="silo"/>.</summary>
    public int LeadersOn(ulong silo) => _leaderSlots.Select((slot, shard) => _replicas[shard][slot]).Count(s => s == silo);

    /// <summary>
    /// Leader balancing: a greedy pass (shard by shard, the replica on the silo with the fewest
    /// leaders so far; ties go to the slot after the previous shard's, so that with as many silos as
    /// replicas the leaders rotate through the slots), then moves that each take a leader from a
    /// silo to one with at least two fewer, until none is left. Every move lowers the sum of
    /// squared leader counts, so the moves end.
    /// </summary>
    private static int[] ChooseLeaders(ulong[][] replicas, IEnumerable<ulong> silos)
    {
        var leaders = silos.ToDictionary(s => s, _ => 0);
        var chosen = new int[replicas.Length];
        for (var shard = 0; shard < replicas.Length; shard++)
        {
            var slots = replicas[shard];
            var best = -1;
            for (var i = 0; i < slots.Length; i++)
            {
                var slot = (shard + i) % slots.Length;
                if (best < 0 || leaders[slots[slot]] < leaders[slots[best]])
                {
                    best = slot;
                }
            }

            chosen[shard] = best;
            leaders[slots[best]]++;
        }

        for (var moved = true; moved;)
        {
            moved = false;
            for (var shard = 0; shard < replicas.Length; shard++)
            {
                var slots = replicas[shard];
                var from = slots[chosen[shard]];
                for (var slot = 0; slot < slots.Length; slot++)
                {
                    if (leaders[slots[slot]] + 2 <= leaders[from])
                    {
                        leaders[from]--;
                        leaders[slots[slot]]++;
                        chosen[shard] = slot;
                        moved = true;
                        break;
                    }
                }
            }
        }

        return chosen;
    }

    /// <summary>Silos by their weight for this replica slot, best first (rendezvous hashing).</summary>
    private static void RankSilos(ulong[] silos, int shard, int slot, ulong[] ranking)
    {
        Array.Copy(silos, ranking, silos.Length);
        var shardSalt = Mix(((ulong)shard << 8 | (uint)slot) * 0x9E3779B97F4A7C15UL);
        // Highest weight first; ties (a 2^-64 event) fall back to the silo key.
        Array.Sort(ranking, (a, b) =>
        {
            var byWeight = Mix(b ^ shardSalt).CompareTo(Mix(a ^ shardSalt));
            return byWeight != 0 ? byWeight : a.CompareTo(b);
        });
    }

    private static ulong Choose(ulong[] ranking, ReadOnlySpan<ulong> taken, Dictionary<ulong, int> load, int capacity)
    {
        // Best-ranked silo that is new to this shard and under the cap; the cap may be unmet only
        // when it cannot be met, and distinctness only when there are fewer silos than replicas.
        foreach (var silo in ranking)
        {
            if (!taken.Contains(silo) && load[silo] < capacity)
            {
                return silo;
            }
        }

        foreach (var silo in ranking)
        {
            if (!taken.Contains(silo))
            {
                return silo;
            }
        }

        return ranking[taken.Length % ranking.Length];
    }

    /// <summary>The SplitMix64 finalizer: a bijective mix with good avalanche.</summary>
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
