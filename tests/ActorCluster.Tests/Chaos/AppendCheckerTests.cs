using ActorCluster.Cli.Chaos;

namespace ActorCluster.Tests.Chaos;

/// <summary>The append checker on hand-made histories: lost, duplicated and unexpected elements are caught.</summary>
public sealed class AppendCheckerTests
{
    private readonly List<HistoryEvent> _history = [];
    private long _time;

    [Fact]
    public void Every_acknowledged_element_present_once_is_valid_and_unknown_ones_may_be_absent()
    {
        Append(1, "set-0", "1-1", EventType.Ok);
        Append(2, "set-0", "2-1", EventType.Info);
        Append(2, "set-0", "2-2", EventType.Info);
        Append(1, "set-1", "1-2", EventType.Fail);
        var result = AppendChecker.Check(_history, new Dictionary<string, string?> { ["set-0"] = "1-1,2-2", ["set-1"] = null });
        Assert.True(result.Valid);
        Assert.Equal((1, 2), (result.Acknowledged, result.Indeterminate));
    }

    [Fact]
    public void An_acknowledged_element_missing_from_the_final_value_is_lost()
    {
        Append(1, "set-0", "1-1", EventType.Ok);
        Append(1, "set-0", "1-2", EventType.Ok);
        var result = AppendChecker.Check(_history, new Dictionary<string, string?> { ["set-0"] = "1-1" });
        Assert.False(result.Valid);
        Assert.Equal(["set-0:1-2"], result.Lost);
        Assert.Empty(result.Duplicated);
        Assert.Empty(result.Unexpected);
    }

    [Fact]
    public void An_element_present_twice_was_applied_twice()
    {
        Append(1, "set-0", "1-1", EventType.Info);
        Append(2, "set-0", "2-1", EventType.Ok);
        var result = AppendChecker.Check(_history, new Dictionary<string, string?> { ["set-0"] = "1-1,2-1,1-1" });
        Assert.False(result.Valid);
        Assert.Equal(["set-0:1-1 x2"], result.Duplicated);
        Assert.Empty(result.Lost);
    }

    [Fact]
    public void An_element_nobody_appended_to_that_key_is_unexpected()
    {
        Append(1, "set-0", "1-1", EventType.Ok);
        Append(1, "set-1", "1-2", EventType.Ok);
        // 1-2 was appended to set-1, not set-0; 9-9 by nobody at all.
        var result = AppendChecker.Check(_history, new Dictionary<string, string?> { ["set-0"] = "1-1,1-2,9-9", ["set-1"] = "1-2" });
        Assert.False(result.Valid);
        Assert.Equal(["set-0:1-2", "set-0:9-9"], result.Unexpected.Order());
        Assert.Empty(result.Lost);
    }

    private void Append(int process, string key, string element, EventType outcome)
    {
        _history.Add(new HistoryEvent(process, EventType.Invoke, "append", key, element, ++_time));
        _history.Add(new HistoryEvent(process, outcome, "append", key, element, ++_time));
    }
}
