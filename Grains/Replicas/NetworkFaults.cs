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

    /// <summary>Silo endpoints ("host:port") whose Raft messages are dropped.</summary>
    public ImmutableHashSet<string> Blocked => _blocked;

    public void Block(IEnumerable<string> endpoints) => _blocked = [.. endpoints];

    public void Heal() => _blocked = [];

    public bool Drops(string? sender) => sender is not null && _blocked.Contains(sender);
}

/// <summary>Drops incoming Raft traffic from blocked silos, as a partitioned network would.</summary>
public sealed class NetworkFaultFilter(NetworkFaults faults) : IIncomingGrainCallFilter
{
    public Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Request.GetArgumentCount() == 1 && context.Request.GetArgument(0) is IRaftTraffic traffic && faults.Drops(traffic.SenderSilo))
        {
            // A one-way message vanishes; a snapshot chunk is refused, as if it never arrived.
            if (traffic is SnapshotChunk)
            {
                context.Result = false;
            }

            return Task.CompletedTask;
        }

        return context.Invoke();
    }
}
