namespace ActorCluster.Cli.Chaos;

/// <summary>
/// An operation paired from its invoke and completion events. An operation whose outcome is
/// unknown (info, or no completion at all) returns at <see cref="long.MaxValue"/>: it may take effect
/// at any point after its call, or never.
/// </summary>
public sealed record Operation(
    int Id,
    int Process,
    string Function,
    string Key,
    string? Input,
    ulong? Expected,
    long Call,
    long Return,
    EventType Outcome,
    string? Output,
    ulong? Version)
{
    public bool IsUnknown => Outcome == EventType.Info;

    /// <summary>
    /// Pairs each process's invoke with its next completion. Drops operations that certainly
    /// failed, and reads whose outcome is unknown (a read changes nothing, so an unanswered one
    /// tells nothing).
    /// </summary>
    public static List<Operation> FromHistory(IEnumerable<HistoryEvent> history, bool dropUnknownReads = true)
    {
        var open = new Dictionary<int, HistoryEvent>();
        var operations = new List<Operation>();
        foreach (var e in history.OrderBy(e => e.Time))
        {
            if (e.Type == EventType.Invoke)
            {
                if (open.Remove(e.Process, out var unfinished) && !(dropUnknownReads && unfinished.Function == "read"))
                {
                    operations.Add(Unknown(operations.Count, unfinished));
                }

                open[e.Process] = e;
                continue;
            }

            if (!open.Remove(e.Process, out var call))
            {
                throw new FormatException($"Process {e.Process} completed an operation it never invoked (time {e.Time}).");
            }

            if (e.Type == EventType.Fail || (dropUnknownReads && e.Type == EventType.Info && call.Function == "read"))
            {
                continue;
            }

            operations.Add(e.Type == EventType.Info
                ? Unknown(operations.Count, call)
                : new Operation(operations.Count, call.Process, call.Function, call.Key, call.Value, call.Expected, call.Time, e.Time, EventType.Ok, e.Value, e.Version));
        }

        foreach (var call in open.Values.Where(c => !dropUnknownReads || c.Function != "read"))
        {
            operations.Add(Unknown(operations.Count, call));
        }

        return operations;
    }

    private static Operation Unknown(int id, HistoryEvent call) =>
        new(id, call.Process, call.Function, call.Key, call.Value, call.Expected, call.Time, long.MaxValue, EventType.Info, null, null);
}
