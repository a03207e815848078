namespace ActorCluster.Cli.Chaos;

/// <summary>What the final values of the append keys show.</summary>
public sealed record AppendResult(
    int Acknowledged,
    int Indeterminate,
    IReadOnlyList<string> Lost,
    IReadOnlyList<string> Duplicated,
    IReadOnlyList<string> Unexpected)
{
    public bool Valid => Lost.Count == 0 && Duplicated.Count == 0 && Unexpected.Count == 0;
}

/// <summary>
/// Checks the append workload: every acknowledged element must be in its key's final value (no
/// lost writes), no element may appear twice (no write applied twice), and nothing may appear
/// that no client tried to append. Elements with unknown outcomes may be present or absent.
/// </summary>
public static class AppendChecker
{
    public static AppendResult Check(IEnumerable<HistoryEvent> history, IReadOnlyDictionary<string, string?> finalValues)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(finalValues);
        var appends = Operation.FromHistory(history.Where(e => e.Function == "append"), dropUnknownReads: false);
        var attempted = appends.Select(a => (a.Key, a.Input!)).ToHashSet();
        var acknowledged = appends.Where(a => a.Outcome == EventType.Ok).Select(a => (a.Key, a.Input!)).ToList();
        var lost = new List<string>();
        var duplicated = new List<string>();
        var unexpected = new List<string>();
        var present = new HashSet<(string, string)>();
        foreach (var (key, value) in finalValues)
        {
            foreach (var group in (value ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries).GroupBy(e => e))
            {
                present.Add((key, group.Key));
                if (group.Count() > 1)
                {
                    duplicated.Add($"{key}:{group.Key} x{group.Count()}");
                }

                if (!attempted.Contains((key, group.Key)))
                {
                    unexpected.Add($"{key}:{group.Key}");
                }
            }
        }

        foreach (var (key, element) in acknowledged)
        {
            if (!present.Contains((key, element)))
            {
                lost.Add($"{key}:{element}");
            }
        }

        return new AppendResult(acknowledged.Count, appends.Count(a => a.IsUnknown), lost, duplicated, unexpected);
    }
}
