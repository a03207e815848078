using Microsoft.Extensions.Logging;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// Only silos may call replica grains. Raft messages, proposals and management calls come from
/// other replicas, shard grains and the ring grain, all grains on a silo of this cluster; an
/// application connected to a gateway goes through the shard grain, which validates what it
/// forwards. A call whose source is an external client is refused, so a client cannot forge Raft
/// traffic or steer leadership.
/// </summary>
/// <remarks>
/// This checks the identity the Orleans runtime puts on the message: it keeps honest clients and
/// buggy tools out. A hostile client could still craft its own messages; against that, secure the
/// transport between clients and gateways (TLS with client certificates).
/// </remarks>
public sealed partial class ReplicaCallerFilter(ILogger<ReplicaCallerFilter> logger) : IIncomingGrainCallFilter
{
    private long _refused;

    /// <summary>Calls refused so far.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    public Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.InterfaceMethod?.DeclaringType != typeof(IRaftReplicaGrain) || IsSiloCaller(context.SourceId))
        {
            return context.Invoke();
        }

        Interlocked.Increment(ref _refused);
        LogRefused(context.MethodName, context.TargetId.ToString(), context.SourceId?.ToString() ?? "an unknown caller");
        throw new UnauthorizedAccessException($"Replica grains accept calls only from silos of the cluster; {context.MethodName} from {context.SourceId?.ToString() ?? "an unknown caller"} was refused.");
    }

    /// <summary>A grain, or code running on a silo outside any grain (Orleans' hosted client).</summary>
    internal static bool IsSiloCaller(GrainId? source) =>
        source is { } id && (!id.IsClient() || id.Key.ToString().StartsWith("hosted-", StringComparison.Ordinal));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused {Method} on {Replica} from {Caller}: replica grains accept calls only from silos")]
    private partial void LogRefused(string method, string replica, string caller);
}
