namespace ActorCluster.Grains.Kv;

/// <summary>
/// The time a leader stamps on the commands it proposes: the log's time. It runs on the leader's
/// monotonic clock from where the log's time stood when the leader took over, never on its wall
/// clock: a wall clock stepped forward by hours (a bad NTP source, an operator's mistake) would
/// otherwise expire every session at once, and one stepped back would stop expiry until real time
/// caught up. Across a change of leader the log's time pauses (from the old leader's last stamp to
/// the new leader's first), so durations measured in it (session idleness, and leases) only ever
/// stretch, never shrink, as etcd's leases do. Pure: the caller passes the monotonic time.
/// </summary>
public sealed class LogClock
{
    private ulong _term;
    private ulong _anchorMs;
    private long _anchorTicks;
    private ulong _lastMs;

    /// <param name="ticksPerSecond">The resolution of the monotonic time passed in: its ticks per second.</param>
    public LogClock(long ticksPerSecond)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ticksPerSecond);
        TicksPerSecond = ticksPerSecond;
    }

    public long TicksPerSecond { get; }

    /// <summary>
    /// The stamp for a command proposed now by the leader of <paramref name="term"/>.
    /// <paramref name="appliedClockMs"/> is the log's time as this replica has applied it; the
    /// first stamp of a term starts from it (or from this clock's last stamp, if later).
    /// Stamps never decrease.
    /// </summary>
    public ulong Stamp(ulong term, long nowTicks, ulong appliedClockMs)
    {
        if (term != _term)
        {
            _term = term;
            _anchorMs = Math.Max(appliedClockMs, _lastMs);
            _anchorTicks = nowTicks;
        }

        var elapsedMs = nowTicks <= _anchorTicks ? 0UL : (ulong)((double)(nowTicks - _anchorTicks) * 1000 / TicksPerSecond);
        _lastMs = Math.Max(_lastMs, _anchorMs + elapsedMs);
        return _lastMs;
    }
}
