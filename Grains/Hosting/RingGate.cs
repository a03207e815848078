using ActorCluster.Grains.Interfaces;

namespace ActorCluster.Grains.Hosting;

/// <summary>
/// The ring this silo has verified against the cluster's record. Replicas and shard grains wait
/// for it before they do anything, so a silo whose ring settings disagree with the cluster's never
/// loads or creates a replica: it stops instead.
/// </summary>
public sealed class RingGate
{
    private readonly TaskCompletionSource<RingDescriptor> _verified = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes with the cluster's ring once verified; faults if the silo refused it.</summary>
    public Task<RingDescriptor> Verified => _verified.Task;

    /// <summary>Opens the gate with the ring the cluster recorded (tests and hosts that know it).</summary>
    public void Open(RingDescriptor ring) => _verified.TrySetResult(ring);

    internal void Refuse(Exception reason) => _verified.TrySetException(reason);
}

/// <summary>The silo's ring settings disagree with the cluster's, or could not be checked; the silo does not start.</summary>
public sealed class RingMismatchException : Exception
{
    public RingMismatchException()
    {
    }

    public RingMismatchException(string message)
        : base(message)
    {
    }

    public RingMismatchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
