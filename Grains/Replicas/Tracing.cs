using System.Diagnostics;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// The silos' spans (source <c>ActorCluster.Silo</c>). One write is one trace: the client's span,
/// the shard router's (<c>shard.route</c>), the leader's proposal (<c>raft.propose</c>, open until
/// the write is answered), its appends to followers (<c>raft.replicate</c>, carried to them in the
/// Raft envelope), each follower's storing of them (<c>raft.append</c>), and the leader's applying
/// (<c>raft.apply</c>). Spans are made only while something listens to the source.
/// </summary>
public static class Tracing
{
    public const string SourceName = "ActorCluster.Silo";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>
    /// Whether a span that starts a trace of its own, by its name, is the cluster's background
    /// traffic (Raft messages, heartbeats, store pulses), which Orleans would otherwise trace as one
    /// trace per call: thousands a second that say nothing about any request. Traced writes carry
    /// their context in the Raft envelope instead.
    /// </summary>
    public static bool IsBackgroundTraffic(string rootSpanName)
    {
        ArgumentNullException.ThrowIfNull(rootSpanName);
        return rootSpanName.StartsWith(nameof(IRaftReplicaGrain) + "/", StringComparison.Ordinal)
            || rootSpanName.StartsWith(nameof(IStorePulseGrain) + "/", StringComparison.Ordinal);
    }

    /// <summary>
    /// Starts a span without making it the current one: the replica's calls return to a caller
    /// (and its pump runs on) under the span they came with, not under one of the write's.
    /// </summary>
    public static Activity? StartDetached(string name, ActivityKind kind, ActivityContext parent = default, IEnumerable<ActivityLink>? links = null)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var outer = Activity.Current;
        var span = parent == default
            ? Source.StartActivity(name, kind)
            : Source.StartActivity(name, kind, parent, links: links);
        Activity.Current = outer;
        return span;
    }

    /// <summary>Ends a span started by <see cref="StartDetached"/>, leaving the current span as it was.</summary>
    public static void StopDetached(Activity? span, string? error = null)
    {
        if (span is null)
        {
            return;
        }

        var outer = Activity.Current;
        if (error is not null)
        {
            span.SetStatus(ActivityStatusCode.Error, error);
        }

        span.Stop();
        Activity.Current = outer;
    }
}
