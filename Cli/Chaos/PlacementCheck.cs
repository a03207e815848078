using System.Globalization;
using ActorCluster.Grains.Interfaces;

namespace ActorCluster.Cli.Chaos;

/// <summary>
/// Whether every shard ended where a sound cluster keeps it: a leader, and a configuration of
/// exactly R members, all voters that answer, on R distinct stores held by R distinct silos that
/// are running — none of them on a store that was wiped or retired.
/// </summary>
public static class PlacementCheck
{
    /// <summary>What is wrong with the placement <paramref name="status"/> shows; empty when it is sound.</summary>
    /// <param name="status">The ring's view: every shard and the replicas that answered.</param>
    /// <param name="liveSiloPorts">Silo ports of the silo processes that are running.</param>
    /// <param name="goneStores">Stores (16 hex digits) that no longer exist: their replicas must have been replaced.</param>
    public static IReadOnlyList<string> Problems(ClusterStatus status, IReadOnlySet<int> liveSiloPorts, IReadOnlySet<string> goneStores)
    {
        ArgumentNullException.ThrowIfNull(status);
        ArgumentNullException.ThrowIfNull(liveSiloPorts);
        ArgumentNullException.ThrowIfNull(goneStores);
        var problems = new List<string>();
        var r = status.Ring.ReplicationFactor;
        foreach (var shard in status.Shards)
        {
            var leader = shard.Replicas.FirstOrDefault(x => x.Replica == shard.Leader && x.Role == "Leader");
            if (leader is null)
            {
                problems.Add($"shard {shard.Shard} has no leader");
                continue;
            }

            var members = leader.Members ?? [];
            if (members.Count != r)
            {
                problems.Add($"shard {shard.Shard} has {members.Count} members [{string.Join(',', members)}], not {r}");
            }

            // The leader's configuration decides who counts: a learner that answers like a follower does not.
            var configured = leader.Voters ?? [];
            foreach (var id in members.Where(m => !configured.Contains(m)))
            {
                problems.Add($"shard {shard.Shard}: member {id} is not a voter in the leader's configuration");
            }

            var voters = new List<ReplicaStatus>();
            foreach (var id in members)
            {
                var replica = shard.Replicas.FirstOrDefault(x => x.Replica == id);
                if (replica is null)
                {
                    problems.Add($"shard {shard.Shard}: member {id} does not answer");
                }
                else if (replica.Role is not ("Leader" or "Follower"))
                {
                    problems.Add($"shard {shard.Shard}: member {id} is a {replica.Role}, not a voter");
                }
                else
                {
                    voters.Add(replica);
                }
            }

            foreach (var replica in voters)
            {
                if (goneStores.Contains(replica.Store))
                {
                    problems.Add($"shard {shard.Shard}: member {replica.Replica} is still on store {replica.Store}, which is gone");
                }

                if (PortOf(replica.Silo) is not { } port || !liveSiloPorts.Contains(port))
                {
                    problems.Add($"shard {shard.Shard}: member {replica.Replica} is on silo {replica.Silo}, which is not running");
                }
            }

            if (voters.Select(v => v.Store).Distinct().Count() < voters.Count)
            {
                problems.Add($"shard {shard.Shard}: two members share a store ({string.Join(", ", voters.Select(v => $"{v.Replica}@{v.Store}"))})");
            }

            if (voters.Select(v => PortOf(v.Silo)).Distinct().Count() < voters.Count)
            {
                problems.Add($"shard {shard.Shard}: two members share a silo ({string.Join(", ", voters.Select(v => $"{v.Replica}@{v.Silo}"))})");
            }
        }

        return problems;
    }

    /// <summary>The port of an Orleans silo address as the status shows it (<c>S127.0.0.1:11111:155019459</c>).</summary>
    public static int? PortOf(string silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        var parts = silo.Split(':');
        return parts.Length >= 3 && int.TryParse(parts[^2], NumberStyles.None, CultureInfo.InvariantCulture, out var port) ? port : null;
    }
}
