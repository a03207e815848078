using System.Diagnostics;
using ActorCluster.Grains.Raft;

namespace ActorCluster.Simulation;

/// <summary>
/// Throughput of the pure core: three nodes in memory on one thread, no I/O, messages handed
/// straight from one node's ready to the next node's Step. Reports committed entries per second
/// and bytes allocated per committed entry.
/// </summary>
public static class CoreBenchmark
{
    private const int ValueBytes = 256;

    public static int Run(long seconds, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.WriteLine($"pure core: 3 nodes, one thread, no I/O, {ValueBytes}-byte entries; a round = proposals, then every ready handled and every message stepped");
        Measure(TimeSpan.FromSeconds(2), 64, 4, output, label: "warm-up");
        var batched = Measure(TimeSpan.FromSeconds(seconds), 64, 4, output, label: "batches of 64, 4 per round");
        var single = Measure(TimeSpan.FromSeconds(seconds), 1, 1, output, label: "1 entry per round (no batching)");
        return batched.EntriesPerSecond > 0 && single.EntriesPerSecond > 0 ? 0 : 1;
    }

    public static (double EntriesPerSecond, double BytesPerEntry) Measure(TimeSpan duration, int batchEntries, int batchesPerRound, TextWriter output, string label)
    {
        ArgumentNullException.ThrowIfNull(output);
        var cluster = new InMemoryCluster(3);
        var leader = cluster.ElectLeader();
        var payload = new byte[ValueBytes];
        var batch = new byte[batchEntries][];
        for (var i = 0; i < batch.Length; i++)
        {
            batch[i] = payload;
        }

        var startCommit = leader.AppliedIndex;
        var startBytes = GC.GetAllocatedBytesForCurrentThread();
        var gen0 = GC.CollectionCount(0);
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < duration)
        {
            for (var i = 0; i < batchesPerRound; i++)
            {
                if (!leader.ProposeBatch(batch).IsAccepted)
                {
                    throw new InvalidOperationException("The leader refused a proposal.");
                }
            }

            cluster.Pump();
            cluster.CompactIfNeeded();
        }

        watch.Stop();
        var entries = leader.AppliedIndex - startCommit;
        var bytes = GC.GetAllocatedBytesForCurrentThread() - startBytes;
        var perSecond = entries / watch.Elapsed.TotalSeconds;
        var perEntry = (double)bytes / entries;
        output.WriteLine($"{label}: {entries:N0} entries committed in {watch.Elapsed.TotalSeconds:0.00}s = {perSecond:N0} entries/s, " +
            $"{perEntry:N0} bytes allocated per entry (payload excluded: shared), gen0 GCs {GC.CollectionCount(0) - gen0}");
        return (perSecond, perEntry);
    }

    /// <summary>Nodes wired back to back: each ready's messages are stepped into their targets.</summary>
    private sealed class InMemoryCluster
    {
        private readonly RaftNode[] _nodes;
        private readonly Queue<Message> _inFlight = new();

        public InMemoryCluster(int size)
        {
            var config = ClusterConfig.OfVoters([.. Enumerable.Range(1, size).Select(i => (ulong)i)]);
            _nodes = [.. Enumerable.Range(1, size).Select(i => RaftNode.Bootstrap(
                new RaftOptions { Id = (ulong)i, Random = new SeededRandom((ulong)i), MaxEntriesPerMessage = 4096, MaxUncommittedEntries = 1 << 20 },
                config))];
        }

        public RaftNode ElectLeader()
        {
            for (var tick = 0; tick < 1000; tick++)
            {
                _nodes[0].Tick();
                Pump();
                if (_nodes[0].Role == RaftRole.Leader && _nodes[0].AppliedIndex >= 1)
                {
                    return _nodes[0];
                }
            }

            throw new InvalidOperationException("No leader was elected.");
        }

        public void Pump()
        {
            bool progressed;
            do
            {
                progressed = false;
                foreach (var node in _nodes)
                {
                    while (node.HasReady())
                    {
                        var ready = node.GetReady();
                        foreach (var message in ready.Messages)
                        {
                            _inFlight.Enqueue(message);
                        }

                        node.Advance(ready);
                        progressed = true;
                    }
                }

                while (_inFlight.TryDequeue(out var message))
                {
                    _nodes[message.To - 1].Step(message);
                    progressed = true;
                }
            }
            while (progressed);
        }

        public void CompactIfNeeded()
        {
            foreach (var node in _nodes)
            {
                var applied = node.AppliedIndex;
                if (applied - node.FirstIndex > 200_000)
                {
                    node.CreateSnapshot(applied, []);
                    node.Compact(applied - 10_000);
                }
            }
        }
    }
}
