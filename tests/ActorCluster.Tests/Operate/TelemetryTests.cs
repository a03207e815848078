using System.Collections;
using System.Collections.Concurrent;
using System.Diagnostics;
using ActorCluster.Client;
using ActorCluster.Grains.Raft;
using ActorCluster.Grains.Replicas;
using ActorCluster.Tests.Cluster;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Xunit.Abstractions;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Operate;

/// <summary>
/// The spans and instruments an operator sees, read through OpenTelemetry's in-memory exporters
/// as a collector would receive them.
/// </summary>
public sealed class TelemetryTests(ITestOutputHelper output)
{
    private static readonly ActivitySource TestSource = new("ActorCluster.Tests.Telemetry");

    [Fact]
    public async Task A_write_is_one_trace_from_the_client_through_the_leader_and_its_followers_to_apply()
    {
        var spans = new LockedList<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(TestSource.Name, ActorClusterClient.ActivitySourceName, Tracing.SourceName, "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application")
            .SetSampler(new AlwaysOnSampler())
            .AddInMemoryExporter(spans)
            .Build();
        // Reads take a ReadIndex round, whose span lasts until the read is served (exported only once ended).
        // No leader moves toward the placement's preferred replicas: the leader read below leads the traced write.
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 2, settings: new Dictionary<string, string?>
        {
            ["ActorCluster:Raft:LeaseReads"] = "false",
            ["ActorCluster:Ring:RebalanceSettleSeconds"] = "600",
            ["ActorCluster:Silo:FaultInjection"] = "true",
            // A 1 s election timeout (not the test clusters' 200 ms): on a loaded machine neither
            // the cut-off follower nor a starved one starts an election while the write is traced.
            ["ActorCluster:Raft:ElectionTicks"] = "50",
        });
        var client = test.Client;
        var shard = client.ShardOf("traced");
        await client.PutAsync("traced", [0]);
        var status = await SpreadLeaderOf(client, shard);
        // Both followers have acknowledged the whole log before the cut: the late follower's
        // catch-up then carries the traced write alone. (A batch of several traced writes travels
        // under the first one's trace, linked to the others'.)
        await EventuallyAsync(async () =>
        {
            var leader = (await StatusOf(client, shard)).Replicas.FirstOrDefault(r => r.Replica == status.Leader);
            return leader is { Matched: { Count: 3 } matched } && matched.All(m => m >= leader.LastIndex);
        }, TimeSpan.FromSeconds(10), "the leader's followers acknowledge its whole log");

        // One follower is cut off while the write commits with the other: it stores the entry
        // only after the write was answered, and that append belongs to the write's trace too.
        var leaderSilo = test.SiloOf(status.Replicas.Single(r => r.Replica == status.Leader).Silo);
        var lateSilo = test.SiloOf(status.Replicas.First(r => r.Replica != status.Leader).Silo);
        leaderSilo.ServiceProvider.GetRequiredService<NetworkFaults>().Block([TestCluster.EndpointOf(lateSilo)]);
        lateSilo.ServiceProvider.GetRequiredService<NetworkFaults>().Block([TestCluster.EndpointOf(leaderSilo)]);
        ActivityTraceId trace;
        using (var root = TestSource.StartActivity("test"))
        {
            trace = root!.TraceId;
            await client.PutAsync("traced", [1]);
            Assert.Equal(new byte[] { 1 }, (await client.GetAsync("traced"))!.Value.Value);
        }

        leaderSilo.ServiceProvider.GetRequiredService<NetworkFaults>().Heal();
        lateSilo.ServiceProvider.GetRequiredService<NetworkFaults>().Heal();

        // The followers' spans end once they have stored the entry, which may be after the answer.
        Activity[] Trace() => [.. spans.Snapshot().Where(s => s.TraceId == trace)];
        string? replicas = null;
        await EventuallyAsync(
            async () =>
            {
                replicas = string.Join("; ", (await StatusOf(client, shard)).Replicas.Select(r => $"{r.Replica} {r.Role} last {r.LastIndex} commit {r.CommitIndex} quiesced {r.Quiesced}"));
                return Trace().Count(s => s.OperationName == "raft.append") >= 2;
            },
            TimeSpan.FromSeconds(10),
            () => $"both followers record storing the entry: {string.Join(", ", Trace().Select(s => $"{s.OperationName}{(s.GetTagItem("raft.peer") is { } peer ? $"({peer})" : "")}"))}; replicas {replicas}");

        var inTrace = Trace();
        output.WriteLine(string.Join(Environment.NewLine, inTrace.Select(s => $"{s.OperationName} {s.SpanId} <- {s.ParentSpanId} {string.Join(" ", s.TagObjects.Select(t => $"{t.Key}={t.Value}"))}")));
        var byId = inTrace.ToDictionary(s => s.SpanId);
        bool Descends(Activity span, Activity ancestor)
        {
            for (var at = span; byId.TryGetValue(at.ParentSpanId, out var parent); at = parent)
            {
                if (parent == ancestor)
                {
                    return true;
                }
            }

            return false;
        }

        var put = Assert.Single(inTrace, s => s.OperationName == "actorcluster put");
        Assert.Equal(ActivityKind.Client, put.Kind);
        Assert.Equal(shard, put.GetTagItem("actorcluster.shard"));
        var route = Assert.Single(inTrace, s => s.OperationName == "shard.route" && Descends(s, put));
        Assert.True(Descends(route, put), "the shard router's span is under the client's");
        var propose = Assert.Single(inTrace, s => s.OperationName == "raft.propose");
        Assert.True(Descends(propose, route), "the leader's proposal is under the router's span");
        Assert.Equal(status.Leader, propose.GetTagItem("actorcluster.replica"));
        Assert.Equal(ActivityStatusCode.Unset, propose.Status);

        var apply = Assert.Single(inTrace, s => s.OperationName == "raft.apply");
        Assert.Equal(propose.SpanId, apply.ParentSpanId);
        Assert.Equal(propose.GetTagItem("raft.index"), apply.GetTagItem("raft.index"));
        // The proposal's span lasts until the write is answered: it covers its apply.
        Assert.True(propose.StartTimeUtc + propose.Duration >= apply.StartTimeUtc + apply.Duration);

        var replicates = inTrace.Where(s => s.OperationName == "raft.replicate").ToList();
        Assert.NotEmpty(replicates);
        Assert.All(replicates, r => Assert.Equal(propose.SpanId, r.ParentSpanId));
        var appends = inTrace.Where(s => s.OperationName == "raft.append").ToList();
        Assert.All(appends, a => Assert.Contains(replicates, r => Descends(a, r)));
        var followers = status.Replicas.Where(r => r.Replica != status.Leader).Select(r => (object?)r.Replica).ToHashSet();
        Assert.Equal(followers, appends.Select(a => a.GetTagItem("actorcluster.replica")).ToHashSet());
        Assert.All(appends, a => Assert.True((ulong)a.GetTagItem("raft.last_index")! >= (ulong)propose.GetTagItem("raft.index")!));

        // The read: the client's span, the router's, and the leader's, under a lease or after a ReadIndex round.
        var get = Assert.Single(inTrace, s => s.OperationName == "actorcluster get");
        var read = Assert.Single(inTrace, s => s.OperationName == "raft.read");
        Assert.True(Descends(read, get), "the leader's read is under the client's get");
        Assert.Equal(status.Leader, read.GetTagItem("actorcluster.replica"));
        Assert.Equal(false, read.GetTagItem("raft.read.lease"));
        Assert.Equal(ActivityStatusCode.Unset, read.Status);
    }

    [Fact]
    public async Task A_follower_opens_no_append_span_for_an_append_its_log_refused()
    {
        // Spans that never end are never exported: the listener sees them start.
        var started = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == Tracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = started.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 1, settings: new Dictionary<string, string?>
        {
            ["ActorCluster:Ring:RebalanceSettleSeconds"] = "600",
        });
        var client = test.Client;
        await client.PutAsync("k", [1]);
        var status = await SpreadLeaderOf(client, 0);
        var leader = status.Replicas.Single(r => r.Replica == status.Leader);
        var follower = status.Replicas.First(r => r.Replica != status.Leader);

        // From the leader's silo, an append in the leader's term that does not follow the
        // follower's log (its previous entry is one the follower lacks): the follower refuses it.
        var trace = ActivityTraceId.CreateRandom();
        var parent = $"00-{trace.ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01";
        var gap = follower.LastIndex + 50;
        var refused = new Message
        {
            Type = MessageType.Append,
            From = leader.Replica,
            To = follower.Replica,
            Term = leader.Term,
            Index = gap,
            LogTerm = leader.Term,
            Entries = [new Entry(gap + 1, leader.Term, EntryType.Normal, [1, 2, 3])],
        };
        var grains = test.SiloOf(leader.Silo).ServiceProvider.GetRequiredService<IGrainFactory>();
        await grains.GetGrain<IRaftReplicaGrain>(TestCluster.KeyOf(follower)).Deliver(new RaftEnvelope(RaftWireCodec.Encode([refused]), TraceParent: parent));

        // It was stepped (the call returned) and nothing of it is in the follower's log.
        var after = (await StatusOf(client, 0)).Replicas.Single(r => r.Replica == follower.Replica);
        Assert.True(after.LastIndex < gap + 1, $"the follower's log reaches {after.LastIndex}");
        Assert.DoesNotContain(started, s => s.TraceId == trace);
        Assert.Equal([1], (await client.GetAsync("k"))!.Value.Value);
    }

    [Fact]
    public async Task The_instruments_an_operator_alerts_on_are_recorded_by_shard()
    {
        var metrics = new List<MetricSnapshot>();
        using var meters = Sdk.CreateMeterProviderBuilder().AddMeter(ReplicaMetrics.MeterName).AddInMemoryExporter(metrics).Build();
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 2, settings: new Dictionary<string, string?>
        {
            ["ActorCluster:Silo:FaultInjection"] = "true",
            // The cut-off replica must come back and catch up, not be replaced.
            ["ActorCluster:Ring:DeadStoreGraceSeconds"] = "600",
            // No leader moves toward the placement's preferred replicas: the leader read below
            // stays the one the test cuts off.
            ["ActorCluster:Ring:RebalanceSettleSeconds"] = "600",
        });
        var client = test.Client;
        var keys = KeysOfShard(client, 0, 30);
        await client.PutAsync(keys[0], [0]);
        var status = await SpreadLeaderOf(client, 0);
        foreach (var key in keys)
        {
            await client.PutAsync(key, [1]);
        }

        Assert.NotNull(await client.GetAsync(keys[0]));
        // Shard 1 takes no writes: its election may still be under way on a loaded machine.
        await LeaderOf(client, 1);
        meters.ForceFlush();
        var proposals = Sum(metrics, "actorcluster.raft.proposals", shard: 0);
        Assert.True(proposals >= keys.Count, $"{proposals} proposals on shard 0");
        var latencies = Histogram(metrics, "actorcluster.raft.commit_latency", shard: 0);
        Assert.True(latencies.Count >= keys.Count, $"{latencies.Count} commit latencies on shard 0");
        Assert.InRange(latencies.Sum / latencies.Count, 0, 5);
        Assert.True(Sum(metrics, "actorcluster.raft.leader_changes", shard: 0) >= 1, "shard 0 counts its election");
        Assert.True(Histogram(metrics, "actorcluster.store.sync_latency").Count > 0, "the stores' group commits are timed");
        foreach (var gauge in new[] { "actorcluster.raft.apply_lag", "actorcluster.raft.voter_lag", "actorcluster.raft.pending_writes", "actorcluster.raft.pending_reads", "actorcluster.raft.replicas_without_leader" })
        {
            Assert.True(Gauge(metrics, gauge, shard: 0) is >= 0, $"{gauge} reported for shard 0");
        }

        // Counters an alert watches for an increase exist at zero before their first event:
        // Prometheus's increase() never sees a series that appears at 1.
        foreach (var counter in new[] { "actorcluster.raft.quorum_lost", "actorcluster.raft.snapshots_sent" })
        {
            Assert.True(Of(metrics, counter, 0).Count > 0, $"{counter} is exported for shard 0 before anything happened");
            Assert.Equal(0, Sum(metrics, counter, shard: 0));
        }

        foreach (var counter in new[] { "actorcluster.store.writes_refused", "actorcluster.store.writes_failed" })
        {
            Assert.True(Of(metrics, counter, null).Count > 0, $"{counter} is exported before anything happened");
        }

        // Gauges are a moment's values: an election on a loaded machine briefly leaves a shard
        // without a leader, so they are awaited.
        await EventuallyAsync(() =>
        {
            meters.ForceFlush();
            return Task.FromResult(Gauge(metrics, "actorcluster.raft.replicas_without_leader", shard: 0) == 0 && Gauge(metrics, "actorcluster.raft.leaders") >= 2
                && Sum(metrics, "actorcluster.raft.leader_changes", shard: 1) >= 1);
        }, TimeSpan.FromSeconds(20), () => $"every replica of shard 0 knows its leader ({Gauge(metrics, "actorcluster.raft.replicas_without_leader", shard: 0)} do not), the silos lead both shards ({Gauge(metrics, "actorcluster.raft.leaders")} leaders), and shard 1 counts its election ({Sum(metrics, "actorcluster.raft.leader_changes", shard: 1)})");

        // Cut the leader's silo off: it loses its quorum and steps down, the others elect a leader
        // and go on, and the old leader, back, is too far behind for the log: it gets a snapshot.
        status = await LeaderOf(client, 0);
        var leaderSilo = test.SiloOf(status.Replicas.Single(r => r.Replica == status.Leader).Silo);
        var others = test.Cluster.Silos.Where(s => s != leaderSilo).ToList();
        leaderSilo.ServiceProvider.GetRequiredService<NetworkFaults>().Block(others.Select(TestCluster.EndpointOf));
        foreach (var silo in others)
        {
            silo.ServiceProvider.GetRequiredService<NetworkFaults>().Block([TestCluster.EndpointOf(leaderSilo)]);
        }

        await EventuallyAsync(() =>
        {
            meters.ForceFlush();
            return Task.FromResult(Sum(metrics, "actorcluster.raft.quorum_lost", shard: 0) >= 1);
        }, TimeSpan.FromSeconds(20), "the cut-off leader counts its lost quorum");

        // More than a snapshot's worth of entries (200 in test clusters), written concurrently.
        await Task.WhenAll(KeysOfShard(client, 0, 250, "after").Select(key => client.PutAsync(key, [2])));
        foreach (var silo in test.Cluster.Silos)
        {
            silo.ServiceProvider.GetRequiredService<NetworkFaults>().Heal();
        }

        await EventuallyAsync(() =>
        {
            meters.ForceFlush();
            return Task.FromResult(Sum(metrics, "actorcluster.raft.snapshots_sent", shard: 0) >= 1);
        }, TimeSpan.FromSeconds(30), "the new leader counts the snapshot it sent to the old one");
        Assert.Equal(0, Sum(metrics, "actorcluster.raft.snapshots_sent", shard: 1));
    }

    [Fact]
    public async Task Beyond_the_configured_number_of_shards_the_instruments_are_per_silo()
    {
        var metrics = new List<MetricSnapshot>();
        using var meters = Sdk.CreateMeterProviderBuilder().AddMeter(ReplicaMetrics.MeterName).AddInMemoryExporter(metrics).Build();
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 4, settings: new Dictionary<string, string?>
        {
            ["ActorCluster:Telemetry:ShardMetricsUpTo"] = "3",
        });
        var client = test.Client;
        for (var i = 0; i < 20; i++)
        {
            await client.PutAsync($"key-{i}", [1]);
        }

        meters.ForceFlush();
        var tagged = metrics.Where(m => Points(m).Any(p => Tags(p).ContainsKey(ReplicaMetrics.ShardTag))).Select(m => m.Name).Distinct().ToList();
        Assert.True(tagged.Count == 0, $"tagged by shard: {string.Join(", ", tagged)}");
        Assert.True(Sum(metrics, "actorcluster.raft.proposals") >= 20);
        Assert.True(Histogram(metrics, "actorcluster.raft.commit_latency").Count >= 20);
        Assert.True(Gauge(metrics, "actorcluster.raft.apply_lag") is >= 0);
    }

    [Theory]
    [InlineData("IRaftReplicaGrain/Deliver", true)]
    [InlineData("IRaftReplicaGrain/StoreSuspected", true)]
    [InlineData("IStorePulseGrain/Pulse", true)]
    [InlineData("IShardGrain/Write", false)]
    [InlineData("IRaftReplicaGrain", false)]
    [InlineData("raft.propose", false)]
    public void Only_the_clusters_background_traffic_is_kept_out_of_traces(string rootSpan, bool background) =>
        Assert.Equal(background, Tracing.IsBackgroundTraffic(rootSpan));

    private static IEnumerable<MetricPoint> Points(MetricSnapshot metric) => metric.MetricPoints;

    private static Dictionary<string, object?> Tags(MetricPoint point)
    {
        var tags = new Dictionary<string, object?>();
        foreach (var tag in point.Tags)
        {
            tags[tag.Key] = tag.Value;
        }

        return tags;
    }

    /// <summary>The newest export's points of <paramref name="name"/> for the shard (or those without a shard tag).</summary>
    private static List<MetricPoint> Of(List<MetricSnapshot> metrics, string name, int? shard)
    {
        var metric = metrics.LastOrDefault(m => m.Name == name);
        return metric is null ? [] : [.. Points(metric).Where(p => Tags(p).TryGetValue(ReplicaMetrics.ShardTag, out var s) ? Equals(s, shard) : shard is null)];
    }

    private static long Sum(List<MetricSnapshot> metrics, string name, int? shard = null) => Of(metrics, name, shard).Sum(p => p.GetSumLong());

    private static (long Count, double Sum) Histogram(List<MetricSnapshot> metrics, string name, int? shard = null) =>
        Of(metrics, name, shard) is var points ? (points.Sum(p => p.GetHistogramCount()), points.Sum(p => p.GetHistogramSum())) : default;

    private static long? Gauge(List<MetricSnapshot> metrics, string name, int? shard = null) =>
        Of(metrics, name, shard) is { Count: > 0 } points ? points.Sum(p => p.GetGaugeLastValueLong()) : null;

    /// <summary>A list the exporter adds to from any thread while the test reads it.</summary>
    private sealed class LockedList<T> : ICollection<T>
    {
        private readonly List<T> _items = [];

        public int Count
        {
            get
            {
                lock (_items)
                {
                    return _items.Count;
                }
            }
        }

        public bool IsReadOnly => false;

        public T[] Snapshot()
        {
            lock (_items)
            {
                return [.. _items];
            }
        }

        public void Add(T item)
        {
            lock (_items)
            {
                _items.Add(item);
            }
        }

        public void Clear()
        {
            lock (_items)
            {
                _items.Clear();
            }
        }

        public bool Contains(T item) => Snapshot().Contains(item);

        public void CopyTo(T[] array, int arrayIndex) => Snapshot().CopyTo(array, arrayIndex);

        public bool Remove(T item)
        {
            lock (_items)
            {
                return _items.Remove(item);
            }
        }

        public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)Snapshot()).GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
