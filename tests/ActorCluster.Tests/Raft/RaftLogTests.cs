using ActorCluster.Grains.Raft;
using static ActorCluster.Tests.Raft.RaftHarness;

namespace ActorCluster.Tests.Raft;

/// <summary>The in-memory log: append, conflict handling, hints, compaction and configuration history.</summary>
public sealed class RaftLogTests
{
    private static readonly SnapshotMetadata Origin = new(0, 0, ClusterConfig.OfVoters(1, 2, 3));

    [Fact]
    public void Find_conflict_by_term_returns_the_last_index_whose_term_is_at_most_the_given_term()
    {
        var log = new RaftLog(Origin, null, Entries(1, 1, 1, 2, 2, 4, 4), committed: 0, applied: 0);
        Assert.Equal((4UL, 2UL), log.FindConflictByTerm(6, 3));
        Assert.Equal((6UL, 4UL), log.FindConflictByTerm(6, 4));
        Assert.Equal((2UL, 1UL), log.FindConflictByTerm(6, 1));
        Assert.Equal((0UL, 0UL), log.FindConflictByTerm(6, 0));
        Assert.Equal((6UL, 4UL), log.FindConflictByTerm(100, 9));
    }

    [Fact]
    public void Overwriting_a_committed_entry_is_refused_loudly()
    {
        var log = new RaftLog(Origin, null, Entries(1, 1, 1), committed: 2, applied: 0);
        Assert.Throws<InvalidOperationException>(() => log.MaybeAppend(1, 1, 2, Entries(2, 2)));
        Assert.Equal(2UL, log.LastIndex);
    }

    [Fact]
    public void Compaction_moves_the_offset_and_keeps_later_entries_and_the_configuration_in_force()
    {
        var change = new ConfChangeEntry(new ConfChange(ConfChangeType.AddLearner, 4), new ClusterConfig([1, 2, 3], [4]));
        var entries = Entries(1, 1, 1).Append(new Entry(3, 1, EntryType.ConfChange, change.Encode())).Concat(Entries(4, 1, 1)).ToArray();
        var log = new RaftLog(Origin, null, entries, committed: 5, applied: 5);
        Assert.Equal(change.Config, log.Config);
        Assert.Equal(3UL, log.ConfigIndex);
        log.CompactTo(4);
        Assert.Equal(5UL, log.FirstIndex);
        Assert.Equal(change.Config, log.Config);
        Assert.Equal(change.Config, log.ConfigAt(4));
        Assert.Equal(4UL, log.ConfigIndex);
        Assert.Equal(1UL, log.At(5).Term);
    }

    [Fact]
    public void Truncating_a_configuration_entry_restores_the_previous_configuration()
    {
        var change = new ConfChangeEntry(new ConfChange(ConfChangeType.RemoveNode, 3), ClusterConfig.OfVoters(1, 2));
        var entries = Entries(1, 1).Append(new Entry(2, 1, EntryType.ConfChange, change.Encode())).ToArray();
        var log = new RaftLog(Origin, null, entries, committed: 1, applied: 0);
        Assert.Equal(ClusterConfig.OfVoters(1, 2), log.Config);
        Assert.Equal(2UL, log.MaybeAppend(1, 1, 1, Entries(2, 2)));
        Assert.Equal(ClusterConfig.OfVoters(1, 2, 3), log.Config);
    }

    [Fact]
    public void The_buffer_reuses_its_compacted_front_and_grows_when_full()
    {
        var log = new RaftLog(Origin, null, [], 0, 0);
        for (ulong i = 1; i <= 10_000; i++)
        {
            log.Append([new Entry(i, 1, EntryType.Normal, [])]);
            if (i % 100 == 0)
            {
                log.CommitTo(i);
                log.CompactTo(i - 50);
            }
        }

        Assert.Equal(10_000UL, log.LastIndex);
        Assert.Equal(9_951UL, log.FirstIndex);
        for (var i = log.FirstIndex; i <= log.LastIndex; i++)
        {
            Assert.Equal(i, log.At(i).Index);
        }
    }

    [Fact]
    public void Stored_entries_must_be_contiguous_and_the_commit_index_inside_the_log()
    {
        Assert.Throws<ArgumentException>(() => new RaftLog(Origin, null, [new Entry(2, 1, EntryType.Normal, [])], 0, 0));
        Assert.Throws<ArgumentException>(() => new RaftLog(Origin, null, Entries(1, 1), committed: 5, applied: 0));
        Assert.Throws<ArgumentException>(() => new RaftLog(Origin, null, Entries(1, 1), committed: 1, applied: 2));
    }

    [Fact]
    public void Inflights_free_in_order_and_refuse_to_overflow()
    {
        var inflights = new Inflights(3, long.MaxValue);
        inflights.Add(5, 10);
        inflights.Add(8, 10);
        inflights.Add(9, 10);
        Assert.True(inflights.IsFull);
        Assert.Throws<InvalidOperationException>(() => inflights.Add(10, 10));
        inflights.FreeLE(8);
        Assert.Equal(1, inflights.Count);
        inflights.Add(12, 10);
        inflights.FreeFirst();
        Assert.Equal(1, inflights.Count);
        inflights.FreeLE(12);
        Assert.Equal(0, inflights.Count);
    }

    [Fact]
    public void Inflights_are_full_once_their_bytes_reach_the_limit_and_free_them_with_the_messages()
    {
        var inflights = new Inflights(100, 1_000);
        inflights.Add(1, 600);
        Assert.False(inflights.IsFull);
        inflights.Add(2, 600);
        Assert.True(inflights.IsFull);
        Assert.Equal(1_200L, inflights.Bytes);
        inflights.FreeLE(1);
        Assert.Equal(600L, inflights.Bytes);
        Assert.False(inflights.IsFull);
        inflights.Reset();
        Assert.Equal(0L, inflights.Bytes);
    }
}
