namespace ActorCluster.Grains.Raft;

/// <summary>
/// The append messages sent to one follower and not yet acknowledged, as the last index and the
/// payload bytes each carried, oldest first. A ring buffer bounded by
/// <see cref="RaftOptions.MaxInflightMessages"/> and <see cref="RaftOptions.MaxInflightBytes"/>:
/// it is the flow-control window of the replicate state.
/// </summary>
internal sealed class Inflights(int capacity, long maxBytes)
{
    private readonly ulong[] _lastIndexes = new ulong[capacity];
    private readonly long[] _bytes = new long[capacity];
    private int _start;
    private int _count;

    public int Count => _count;

    /// <summary>Payload bytes of the messages in flight.</summary>
    public long Bytes { get; private set; }

    public bool IsFull => _count == _lastIndexes.Length || Bytes >= maxBytes;

    /// <summary>Records a message whose last entry has <paramref name="lastIndex"/>. Invariant: indexes increase.</summary>
    public void Add(ulong lastIndex, long bytes)
    {
        if (IsFull)
        {
            throw new InvalidOperationException("Inflights window is full.");
        }

        var slot = (_start + _count) % _lastIndexes.Length;
        _lastIndexes[slot] = lastIndex;
        _bytes[slot] = bytes;
        Bytes += bytes;
        _count++;
    }

    /// <summary>Frees every message whose last index is at or below <paramref name="index"/>.</summary>
    public void FreeLE(ulong index)
    {
        while (_count > 0 && _lastIndexes[_start] <= index)
        {
            FreeFirst();
        }
    }

    /// <summary>Frees the oldest message (used when a heartbeat shows the follower is alive but the window is stuck).</summary>
    public void FreeFirst()
    {
        if (_count > 0)
        {
            Bytes -= _bytes[_start];
            _start = (_start + 1) % _lastIndexes.Length;
            _count--;
        }
    }

    public void Reset()
    {
        _start = 0;
        _count = 0;
        Bytes = 0;
    }
}
