using System.Collections.Immutable;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// Injected network faults for fault testing (only registered when
/// <c>ActorCluster:Silo:FaultInjection</c> is on): the silos whose Raft messages this silo drops.
/// Dropping on the receiving side per sender makes symmetric, asymmetric and bridge partitions
/// between silos a matter of telling each silo whom to ignore.
/// </summary>
public sealed class NetworkFaults
{
    private volatile ImmutableHashSet<string> _blocked = [];
    private volatile ImmutableHashSet<string> _blockedSnapshots = [];

    /// <summary>Silo endpoints ("host:port") whose Raft messages are dropped.</summary>
    public ImmutableHashSet<string> Blocked => _blocked;

    public void Block(IEnumerable<string> endpoints) => _blocked = [.. endpoints];

    /// <summary>Drops only snapshot chunks from these silos (a transfer that keeps failing).</summary>
    public void BlockSnapshots(IEnumerable<string> endpoints) => _blockedSnapshots = [.. endpoints];

    public void Heal()
    {
        _blocked = [];
        _blockedSnapshots = [];
    }

    public bool Drops(IRaftTraffic traffic)
    {
        ArgumentNullException.ThrowIfNull(traffic);
        return traffic.SenderSilo is { } sender && (_blocked.Contains(sender) || (traffic is SnapshotChunk && _blockedSnapshots.Contains(sender)));
    }
}

/// <summary>Drops incoming Raft traffic from blocked silos, as a partitioned network would.</summary>
public sealed class NetworkFaultFilter(NetworkFaults faults) : IIncomingGrainCallFilter
{
    public Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Request.GetArgumentCount() == 1 && context.Request.GetArgument(0) is IRaftTraffic traffic && faults.Drops(traffic))
        {
            // The call ends here without reaching the replica (Orleans wants a result from a filter
            // that does not go on): a one-way message (a Raft batch, a store liveness pulse)
            // vanishes, a snapshot chunk is refused.
            context.Result = traffic is SnapshotChunk ? false : null;
            return Task.CompletedTask;
        }

        return context.Invoke();
    }
}
