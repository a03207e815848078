namespace ActorCluster.Grains.Kv;

/// <summary>
/// The time a leader stamps on the commands it proposes: the log's time. It runs on the leader's
/// monotonic clock from where the log's time stood when the leader took over, never on its wall
/// clock: a wall clock stepped forward by hours (a bad NTP source, an operator's mistake) would
/// otherwise expire every session at once, and one stepped back would stop expiry until real time
/// caught up. Across a change of leader the log's time pauses (from the old leader's last stamp to
/// the new leader's first), so durations measured in it (session idleness, and leases) only ever
/// stretch, never shrink, as etcd's leases do. Nor does it run more than a bound (half the session
/// ttl) ahead of the log's time as the leader has applied it: a leader idle for hours stamps its
/// next command a bounded step ahead and counts on from there, so the idle stretch counts once, as
/// that step, rather than being caught up entry by entry by the state machine's own bound (which
/// would expire, within a few commands, a session opened a millisecond before). Pure: the caller
/// passes the monotonic time.
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
    /// first stamp of a term starts from it (or from this clock's last stamp, if later), and no
    /// stamp runs more than <paramref name="maxAheadMs"/> past it: beyond that the clock counts on
    /// from the bound. Stamps never decrease.
    /// </summary>
    public ulong Stamp(ulong term, long nowTicks, ulong appliedClockMs, ulong maxAheadMs)
    {
        if (term != _term)
        {
            _term = term;
            Anchor(Math.Max(appliedClockMs, _lastMs), nowTicks);
        }

        var stamp = _anchorMs + ElapsedMs(nowTicks);
        var bound = appliedClockMs > ulong.MaxValue - maxAheadMs ? ulong.MaxValue : appliedClockMs + maxAheadMs;
        if (stamp > bound)
        {
            // Idle (or running ahead of what it applied) for longer than the bound: the time beyond
            // it is not counted.
            Anchor(bound, nowTicks);
            stamp = bound;
        }

        _lastMs = Math.Max(_lastMs, stamp);
        return _lastMs;
    }

    private void Anchor(ulong ms, long nowTicks)
    {
        _anchorMs = ms;
        _anchorTicks = nowTicks;
    }

    private ulong ElapsedMs(long nowTicks) =>
        nowTicks <= _anchorTicks ? 0UL : (ulong)((double)(nowTicks - _anchorTicks) * 1000 / TicksPerSecond);
}
