using ActorCluster.Cli.Chaos;

namespace ActorCluster.Tests.Chaos;

/// <summary>The checker itself, on hand-made histories that are and are not linearizable.</summary>
public sealed class LinearizabilityCheckerTests
{
    private readonly List<HistoryEvent> _history = [];

    [Fact]
    public void A_sequential_history_of_writes_and_reads_is_linearizable()
    {
        Write(1, "a", "x", 10, 20, version: 5);
        Read(2, "a", 30, 40, "x", 5);
        Cas(1, "a", expected: 5, "y", 50, 60, version: 7);
        Read(2, "a", 70, 80, "y", 7);
        Assert.Equal(Verdict.Linearizable, VerdictOf());
    }

    [Fact]
    public void A_read_overlapping_a_write_may_see_either_value()
    {
        Write(1, "a", "x", 10, 20, version: 5);
        Write(1, "a", "y", 30, 60, version: 9);
        Read(2, "a", 40, 50, "x", 5);
        Read(3, "a", 41, 55, "y", 9);
        Assert.Equal(Verdict.Linearizable, VerdictOf());
    }

    [Fact]
    public void A_stale_read_after_a_completed_write_is_not_linearizable()
    {
        Write(1, "a", "x", 10, 20, version: 5);
        Write(1, "a", "y", 30, 40, version: 9);
        // Starts after the second write returned, yet sees the first value.
        Read(2, "a", 50, 60, "x", 5);
        var result = Check().Single();
        Assert.Equal(Verdict.NotLinearizable, result.Verdict);
        Assert.Contains("read", result.Explanation!, StringComparison.Ordinal);
    }

    [Fact]
    public void A_lost_write_is_not_linearizable()
    {
        Write(1, "a", "x", 10, 20, version: 5);
        // The acknowledged write has vanished.
        Read(2, "a", 30, 40, null, 0);
        Assert.Equal(Verdict.NotLinearizable, VerdictOf());
    }

    [Fact]
    public void Two_compare_and_swaps_on_the_same_version_cannot_both_succeed()
    {
        Write(1, "a", "x", 10, 20, version: 5);
        Cas(1, "a", expected: 5, "y", 30, 50, version: 8);
        Cas(2, "a", expected: 5, "z", 31, 51, version: 9);
        Assert.Equal(Verdict.NotLinearizable, VerdictOf());
    }

    [Fact]
    public void A_write_with_unknown_outcome_may_have_happened_or_not()
    {
        Write(1, "a", "x", 10, 20, version: 5);
        WriteUnknown(2, "a", "y", 30);
        Read(3, "a", 40, 50, "x", 5);
        Read(3, "a", 60, 70, "y", 12);
        Assert.Equal(Verdict.Linearizable, VerdictOf());
    }

    [Fact]
    public void An_unknown_write_that_was_seen_cannot_be_unseen()
    {
        Write(1, "a", "x", 10, 20, version: 5);
        WriteUnknown(2, "a", "y", 30);
        Read(3, "a", 40, 50, "y", 12);
        Read(3, "a", 60, 70, "x", 5);
        Assert.Equal(Verdict.NotLinearizable, VerdictOf());
    }

    [Fact]
    public void Versions_must_grow_in_real_time_order()
    {
        Write(1, "a", "x", 10, 20, version: 9);
        Write(1, "a", "y", 30, 40, version: 5);
        Assert.Equal(Verdict.NotLinearizable, VerdictOf());
    }

    [Fact]
    public void A_failed_operation_took_no_effect()
    {
        Write(1, "a", "x", 10, 20, version: 5);
        _history.Add(new HistoryEvent(2, EventType.Invoke, "cas", "a", "z", 30, Expected: 4));
        _history.Add(new HistoryEvent(2, EventType.Fail, "cas", "a", null, 40, Version: 5));
        Read(3, "a", 50, 60, "x", 5);
        Assert.Equal(Verdict.Linearizable, VerdictOf());
    }

    [Fact]
    public void Keys_are_checked_independently_and_the_faulty_key_is_named()
    {
        Write(1, "good", "x", 10, 20, version: 5);
        Read(2, "good", 30, 40, "x", 5);
        Write(1, "bad", "y", 50, 60, version: 7);
        Read(2, "bad", 70, 80, null, 0);
        var results = Check();
        Assert.Equal(Verdict.Linearizable, results.Single(r => r.Key == "good").Verdict);
        Assert.Equal(Verdict.NotLinearizable, results.Single(r => r.Key == "bad").Verdict);
    }

    [Fact]
    public void A_search_that_runs_out_of_time_says_so_rather_than_guessing()
    {
        // Many overlapping unknown writes and reads that defeat memoization quickly enough.
        for (var p = 0; p < 60; p++)
        {
            WriteUnknown(p, "a", $"v{p}", 10 + p);
        }

        for (var p = 60; p < 120; p++)
        {
            Read(p, "a", 100 + p, 1000, $"v{p % 60}", (ulong)(1000 + p));
        }

        var result = LinearizabilityChecker.Check(Operation.FromHistory(_history), TimeSpan.FromMilliseconds(50)).Single();
        Assert.Equal(Verdict.Unknown, result.Verdict);
    }

    [Fact]
    public async Task A_history_round_trips_through_its_file_form()
    {
        Write(1, "a", "x", 10, 20, version: 5);
        WriteUnknown(2, "a", "y", 30);
        var path = Path.GetTempFileName();
        await HistoryFile.WriteAsync(path, _history);
        var lines = File.ReadAllLines(path);
        Assert.Contains("\"type\":\"invoke\"", lines[0], StringComparison.Ordinal);
        Assert.Contains("\"f\":\"write\"", lines[0], StringComparison.Ordinal);
        Assert.Equal(_history, HistoryFile.Read(path).ToList());
        var operations = Operation.FromHistory(HistoryFile.Read(path));
        Assert.Equal(2, operations.Count);
        Assert.True(operations.Single(o => o.Process == 2).IsUnknown);
    }

    [Fact]
    public void A_completion_without_an_invocation_is_a_malformed_history()
    {
        _history.Add(new HistoryEvent(1, EventType.Ok, "read", "a", null, 10));
        Assert.Throws<FormatException>(() => Operation.FromHistory(_history));
    }

    private Verdict VerdictOf() => Check().Single().Verdict;

    private IReadOnlyList<KeyResult> Check() => LinearizabilityChecker.Check(Operation.FromHistory(_history), TimeSpan.FromSeconds(10));

    private void Write(int process, string key, string value, long call, long ret, ulong version)
    {
        _history.Add(new HistoryEvent(process, EventType.Invoke, "write", key, value, call));
        _history.Add(new HistoryEvent(process, EventType.Ok, "write", key, value, ret, Version: version));
    }

    private void WriteUnknown(int process, string key, string value, long call)
    {
        _history.Add(new HistoryEvent(process, EventType.Invoke, "write", key, value, call));
        _history.Add(new HistoryEvent(process, EventType.Info, "write", key, value, call + 5000));
    }

    private void Read(int process, string key, long call, long ret, string? value, ulong version)
    {
        _history.Add(new HistoryEvent(process, EventType.Invoke, "read", key, null, call));
        _history.Add(new HistoryEvent(process, EventType.Ok, "read", key, value, ret, Version: version));
    }

    private void Cas(int process, string key, ulong expected, string value, long call, long ret, ulong version)
    {
        _history.Add(new HistoryEvent(process, EventType.Invoke, "cas", key, value, call, Expected: expected));
        _history.Add(new HistoryEvent(process, EventType.Ok, "cas", key, value, ret, Version: version));
    }
}
