using System.Collections.Concurrent;
using System.Diagnostics;

namespace ActorCluster.Cli.Chaos;

/// <summary>Collects history events from many clients, stamped with one monotonic clock (nanoseconds).</summary>
internal sealed class HistoryRecorder
{
    private readonly ConcurrentQueue<HistoryEvent> _events = new();
    private readonly long _origin = Stopwatch.GetTimestamp();

    public long Now => (long)((Stopwatch.GetTimestamp() - _origin) * (1_000_000_000.0 / Stopwatch.Frequency));

    public IReadOnlyList<HistoryEvent> Events => [.. _events.OrderBy(e => e.Time)];

    public void Invoke(int process, string function, string key, string? value = null, ulong? expected = null) =>
        _events.Enqueue(new HistoryEvent(process, EventType.Invoke, function, key, value, Now, Expected: expected));

    public void Complete(int process, EventType type, string function, string key, string? value = null, ulong? version = null, string? error = null) =>
        _events.Enqueue(new HistoryEvent(process, type, function, key, value, Now, Version: version, Error: error));
}
