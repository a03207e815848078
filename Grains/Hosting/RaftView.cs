using ActorCluster.Grains.Interfaces;

namespace ActorCluster.Grains.Hosting;

/// <summary>
/// What the Raft view shows, built from the ring's status: every shard's replicas with their silos'
/// names, roles, terms, commit and applied indexes, how far each is behind its leader, snapshots,
/// and replicas joining or leaving; every silo's replica and leader counts; and the newest
/// elections. Pure: the page and its tests read the same model.
/// </summary>
public static class RaftView
{
    /// <summary>One replica as the view shows it. <see cref="Lag"/> is entries behind its leader's log (null without a leader's word on it).</summary>
    public sealed record Replica(
        ulong Id,
        string Silo,
        string SiloAddress,
        string Store,
        string Role,
        bool Voter,
        ulong Term,
        ulong Commit,
        ulong Applied,
        ulong LastIndex,
        ulong? Lag,
        ulong SnapshotIndex,
        long SnapshotBytes,
        bool Quiesced);

    /// <summary>
    /// One shard. <see cref="State"/> is <c>ok</c>, <c>no leader</c>, <c>changing</c> (a replica
    /// joining or leaving) or <c>degraded</c> (a member that did not answer); <see cref="Changes"/>
    /// says which replicas join, leave or are silent.
    /// </summary>
    public sealed record Shard(
        int Number,
        string State,
        ulong Leader,
        string? LeaderSilo,
        ulong Term,
        ulong Commit,
        DateTime? LastElection,
        IReadOnlyList<Replica> Replicas,
        IReadOnlyList<string> Changes);

    /// <summary>A silo with the replicas it hosts and the leaders among them.</summary>
    public sealed record Silo(string Name, string Address, int Replicas, int Leaders);

    /// <summary>A shard's newest election: its leader, where it runs, its term, and when it won.</summary>
    public sealed record Election(int Shard, ulong Replica, string Silo, ulong Term, DateTime At);

    /// <summary>The whole view.</summary>
    public sealed record Model(
        DateTime GeneratedAt,
        RingDescriptor Ring,
        IReadOnlyList<Silo> Silos,
        IReadOnlyList<Shard> Shards,
        IReadOnlyList<Election> RecentElections,
        int Leaderless);

    /// <summary>Roles of replicas that are not (or no longer) part of their group.</summary>
    private static readonly HashSet<string> Gone = ["Removed", "Missing", "Lost", "Stopped"];

    /// <summary>Builds the view of <paramref name="status"/>, listing the <paramref name="recent"/> newest elections.</summary>
    public static Model Build(ClusterStatus status, DateTime now, int recent = 20)
    {
        ArgumentNullException.ThrowIfNull(status);
        ArgumentOutOfRangeException.ThrowIfNegative(recent);
        var shards = status.Shards.OrderBy(s => s.Shard).Select(s => ShardOf(status, s)).ToList();

        var silos = new Dictionary<string, (string Name, int Replicas, int Leaders)>();
        foreach (var address in status.Silos)
        {
            silos[address] = (status.NameOf(address), 0, 0);
        }

        foreach (var replica in status.Shards.SelectMany(s => s.Replicas).Where(r => !Gone.Contains(r.Role)))
        {
            var known = silos.TryGetValue(replica.Silo, out var counts) ? counts : (Name: NameOf(status, replica), Replicas: 0, Leaders: 0);
            silos[replica.Silo] = (known.Name, known.Replicas + 1, known.Leaders + (replica.Role == "Leader" ? 1 : 0));
        }

        var elections = status.Shards
            .Select(s => s.Replicas.FirstOrDefault(r => r.Replica == s.Leader && r.Role == "Leader") is { LeaderSince: { } at } leader
                ? new Election(s.Shard, leader.Replica, NameOf(status, leader), leader.Term, at)
                : null)
            .OfType<Election>()
            .OrderByDescending(e => e.At)
            .ThenBy(e => e.Shard)
            .Take(recent)
            .ToList();

        return new Model(
            now,
            status.Ring,
            [.. silos.Select(s => new Silo(s.Value.Name, s.Key, s.Value.Replicas, s.Value.Leaders)).OrderBy(s => s.Name, StringComparer.Ordinal)],
            shards,
            elections,
            shards.Count(s => s.Leader == 0));
    }

    private static Shard ShardOf(ClusterStatus cluster, ShardStatus shard)
    {
        var leader = shard.Replicas.FirstOrDefault(r => r.Replica == shard.Leader && r.Role == "Leader");
        var members = leader?.Members ?? [];
        var voters = leader?.Voters ?? [];
        var replicas = shard.Replicas.OrderBy(r => r.Replica).Select(r => new Replica(
            r.Replica,
            NameOf(cluster, r),
            r.Silo,
            r.Store,
            r.Role,
            leader is null ? r.Voters?.Contains(r.Replica) ?? false : voters.Contains(r.Replica),
            r.Term,
            r.CommitIndex,
            r.AppliedIndex,
            r.LastIndex,
            LagOf(leader, r.Replica),
            r.SnapshotIndex,
            r.SnapshotBytes,
            r.Quiesced)).ToList();

        var changes = new List<string>();
        if (leader is not null)
        {
            foreach (var learner in members.Where(m => !voters.Contains(m)))
            {
                changes.Add($"replica {learner} joining (learner{SiloSuffix(replicas, learner)})");
            }

            foreach (var leaving in replicas.Where(r => !members.Contains(r.Id)))
            {
                changes.Add($"replica {leaving.Id} leaving ({leaving.Role.ToLowerInvariant()} on {leaving.Silo})");
            }

            foreach (var silent in members.Where(m => replicas.All(r => r.Id != m) || replicas.First(r => r.Id == m).Role is "Missing" or "Lost" or "Stopped"))
            {
                changes.Add($"replica {silent} not answering");
            }
        }

        var state = leader is null ? "no leader"
            : changes.Any(c => c.EndsWith("not answering", StringComparison.Ordinal)) ? "degraded"
            : changes.Count > 0 ? "changing"
            : "ok";
        return new Shard(
            shard.Shard,
            state,
            leader?.Replica ?? 0,
            leader is null ? null : NameOf(cluster, leader),
            leader?.Term ?? shard.Replicas.Select(r => r.Term).DefaultIfEmpty().Max(),
            leader?.CommitIndex ?? 0,
            leader?.LeaderSince,
            replicas,
            changes);
    }

    /// <summary>How many entries of the leader's log <paramref name="replica"/> lacks; null without a leader that knows.</summary>
    private static ulong? LagOf(ReplicaStatus? leader, ulong replica)
    {
        if (leader is not { Members: { } members, Matched: { } matched } || members.Count != matched.Count)
        {
            return null;
        }

        for (var i = 0; i < members.Count; i++)
        {
            if (members[i] == replica)
            {
                return leader.LastIndex > matched[i] ? leader.LastIndex - matched[i] : 0;
            }
        }

        return null;
    }

    private static string SiloSuffix(List<Replica> replicas, ulong id) =>
        replicas.FirstOrDefault(r => r.Id == id) is { } found ? $" on {found.Silo}" : string.Empty;

    private static string NameOf(ClusterStatus cluster, ReplicaStatus replica) =>
        replica.SiloName.Length > 0 ? replica.SiloName : cluster.NameOf(replica.Silo);
}
