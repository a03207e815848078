using System.Text;
using ActorCluster.Grains.Raft;
using static ActorCluster.Tests.Raft.RaftHarness;

namespace ActorCluster.Tests.Raft;

/// <summary>Raft paper §5.3 (log replication) and §5.4.2 (committing entries from earlier terms).</summary>
public sealed class RaftReplicationTests
{
    private static readonly ulong[] Three = [1, 2, 3];

    [Fact]
    public void S5_3_the_leader_appends_a_proposal_and_sends_it_with_the_previous_index_and_term()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        var result = leader.Propose([42]);
        Assert.Equal(new ProposeResult(ProposeStatus.Accepted, 1, 2, 2, 1), result);
        var appends = Drain(leader).Where(m => m.Type == MessageType.Append).ToList();
        Assert.Equal(2, appends.Count);
        Assert.All(appends, m =>
        {
            Assert.Equal(1UL, m.Index);
            Assert.Equal(1UL, m.LogTerm);
            Assert.Equal(1UL, m.Commit);
            var entry = Assert.Single(m.Entries);
            Assert.Equal(new Entry(2, 1, EntryType.Normal, entry.Data), entry);
            Assert.Equal([42], entry.Data);
        });
    }

    [Fact]
    public void S5_3_an_entry_on_a_majority_is_committed_and_applied_and_followers_learn_the_commit()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Isolate(3);
        var index = net.Propose(1, "x");
        Assert.Equal(index, leader.CommitIndex);
        Assert.Equal(index, leader.AppliedIndex);
        Assert.Equal(index, net[2].CommitIndex);
        Assert.Equal(1UL, net[3].CommitIndex);
    }

    [Fact]
    public void S5_3_an_entry_on_a_minority_is_not_committed()
    {
        var net = TestNetwork.Of(5);
        var leader = net.Elect(1);
        net.Isolate(3);
        net.Isolate(4);
        net.Isolate(5);
        var before = leader.CommitIndex;
        leader.Propose([1]);
        net.Stabilize();
        Assert.Equal(before, leader.CommitIndex);
        net.Heal();
        net.TickAll();
        Assert.Equal(before + 1, leader.CommitIndex);
    }

    [Theory]
    [InlineData(3, new ulong[] { }, false)]
    [InlineData(3, new ulong[] { 2 }, true)]
    [InlineData(5, new ulong[] { 2 }, false)]
    [InlineData(5, new ulong[] { 2, 3 }, true)]
    [InlineData(5, new ulong[] { 2, 3, 4, 5 }, true)]
    public void S5_3_the_leader_commits_once_a_majority_including_itself_acknowledges(int size, ulong[] acks, bool committed)
    {
        var ids = Enumerable.Range(1, size).Select(i => (ulong)i).ToArray();
        var net = new TestNetwork([.. ids.Select(id => NewNode(id, ids))]);
        var leader = net.Elect(1);
        var result = leader.Propose([7]);
        Drain(leader);
        foreach (var from in acks)
        {
            leader.Step(Msg(MessageType.AppendResponse, from, 1, leader.Term, index: result.LastIndex));
        }

        Drain(leader);
        Assert.Equal(committed ? result.LastIndex : result.LastIndex - 1, leader.CommitIndex);
    }

    [Fact]
    public void S5_3_committing_an_entry_commits_every_entry_before_it()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Drop(MessageType.AppendResponse);
        var first = leader.Propose([1]).LastIndex;
        leader.Propose([2]);
        var last = leader.Propose([3]).LastIndex;
        net.Stabilize();
        Assert.Equal(first - 1, leader.CommitIndex);
        net.Heal();
        leader.Step(Msg(MessageType.AppendResponse, 2, 1, leader.Term, index: last));
        var applied = DrainReadies(leader).SelectMany(r => r.CommittedEntries).ToList();
        Assert.Equal([first, first + 1, last], applied.Select(e => e.Index));
        Assert.Equal(last, leader.CommitIndex);
    }

    [Fact]
    public void S5_3_a_follower_rejects_an_append_whose_previous_entry_it_does_not_hold()
    {
        var follower = WithLog(2, Three, term: 2, entryTerms: [1, 1, 2]);
        Drain(follower);
        follower.Step(Msg(MessageType.Append, 1, 2, term: 2, index: 3, logTerm: 1, entries: Entries(4, 2)));
        var reply = Assert.Single(Drain(follower));
        Assert.True(reply.Reject);
        Assert.Equal(3UL, reply.Index);
        // Hint: the last index whose term is at most the leader's previous term (1): index 2.
        Assert.Equal(2UL, reply.RejectHint);
        Assert.Equal(1UL, reply.LogTerm);
        Assert.Equal(3UL, follower.LastIndex);
    }

    [Theory]
    [InlineData(new ulong[] { 1, 1, 2 }, 1UL, 1UL, new ulong[] { 3, 3 }, new ulong[] { 1, 3, 3 })] // conflict at 2: truncate and append
    [InlineData(new ulong[] { 1, 1, 2 }, 3UL, 2UL, new ulong[] { 3 }, new ulong[] { 1, 1, 2, 3 })] // plain append
    [InlineData(new ulong[] { 1, 1, 2 }, 1UL, 1UL, new ulong[] { 1 }, new ulong[] { 1, 1, 2 })] // old, matching: nothing removed
    [InlineData(new ulong[] { 1, 1, 2 }, 0UL, 0UL, new ulong[] { 1, 1, 2, 2 }, new ulong[] { 1, 1, 2, 2 })] // overlap then new
    public void S5_3_a_follower_deletes_a_conflicting_suffix_and_appends_what_is_new(ulong[] log, ulong prevIndex, ulong prevTerm, ulong[] entryTerms, ulong[] expected)
    {
        var follower = WithLog(2, Three, term: 3, entryTerms: log);
        Drain(follower);
        follower.Step(Msg(MessageType.Append, 1, 2, term: 3, index: prevIndex, logTerm: prevTerm, entries: Entries(prevIndex + 1, entryTerms)));
        var reply = Assert.Single(Drain(follower));
        Assert.False(reply.Reject);
        Assert.Equal(prevIndex + (ulong)entryTerms.Length, reply.Index);
        Assert.Equal((ulong)expected.Length, follower.LastIndex);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(follower.TryGetTerm((ulong)i + 1, out var term));
            Assert.Equal(expected[i], term);
        }
    }

    [Fact]
    public void S5_3_a_follower_commits_up_to_the_leaders_commit_but_not_past_what_it_was_sent()
    {
        var follower = WithLog(2, Three, term: 1, entryTerms: [1, 1]);
        Drain(follower);
        follower.Step(Msg(MessageType.Append, 1, 2, term: 1, index: 2, logTerm: 1, entries: Entries(3, 1), commit: 10));
        Assert.Equal(3UL, follower.CommitIndex);
        var applied = DrainReadies(follower).SelectMany(r => r.CommittedEntries).Select(e => e.Index);
        Assert.Equal([1UL, 2UL, 3UL], applied);
    }

    /// <summary>Figure 7: whatever the follower's log looks like, the leader brings it into agreement.</summary>
    [Theory]
    [InlineData(new ulong[] { 1, 1, 1, 4, 4, 5, 5, 6, 6 })]
    [InlineData(new ulong[] { 1, 1, 1, 4 })]
    [InlineData(new ulong[] { 1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6 })]
    [InlineData(new ulong[] { 1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7 })]
    [InlineData(new ulong[] { 1, 1, 1, 4, 4, 4, 4 })]
    [InlineData(new ulong[] { 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3 })]
    [InlineData(new ulong[] { })]
    public void S5_3_the_leader_forces_followers_to_duplicate_its_log_Figure_7(ulong[] followerLog)
    {
        ulong[] leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
        var leader = WithLog(1, Three, term: 8, entryTerms: leaderLog);
        var follower = WithLog(2, Three, term: 7, entryTerms: followerLog);
        var other = WithLog(3, Three, term: 7, entryTerms: leaderLog);
        var net = new TestNetwork(leader, follower, other);
        net.Campaign(1);
        Assert.Equal(RaftRole.Leader, leader.Role);
        net.TickAll(2);
        Assert.Equal(leader.LastIndex, follower.LastIndex);
        for (ulong i = 1; i <= leader.LastIndex; i++)
        {
            leader.TryGetTerm(i, out var want);
            follower.TryGetTerm(i, out var got);
            Assert.Equal(want, got);
        }

        Assert.Equal(leader.CommitIndex, follower.CommitIndex);
    }

    [Fact]
    public void S5_3_fast_backtracking_needs_one_round_trip_per_conflicting_term_not_per_entry()
    {
        // The follower holds 100 entries of an abandoned term 2 after a common entry; the leader
        // holds 100 of term 3. Probing entry by entry would take ~100 rejections.
        var leader = WithLog(1, Three, term: 3, entryTerms: [1, .. Enumerable.Repeat(3UL, 100)]);
        var follower = WithLog(2, Three, term: 3, entryTerms: [1, .. Enumerable.Repeat(2UL, 100)]);
        var other = WithLog(3, Three, term: 3, entryTerms: [1, .. Enumerable.Repeat(3UL, 100)]);
        var net = new TestNetwork(leader, follower, other);
        net.Campaign(1);
        net.TickAll(2);
        Assert.Equal(leader.LastIndex, follower.LastIndex);
        var rejections = net.Delivered.Count(m => m.Type == MessageType.AppendResponse && m.From == 2 && m.Reject);
        Assert.InRange(rejections, 1, 3);
    }

    [Fact]
    public void S5_4_2_a_leader_never_commits_an_earlier_term_entry_by_counting_replicas_Figure_8()
    {
        // Figure 8 (c): leader S1 in term 4 holds (2, t2), now on S1, S2, S3 — a majority of five.
        // It must not count it committed: S5 with (2, t3) could still be elected and overwrite it.
        var s1 = Figure8Leader(RaftTestingKnobs.None);
        // The term-2 entry at index 2 really is on a majority (S1, S2, S3)...
        Assert.True(s1.TryGetTerm(2, out var oldTerm));
        Assert.Equal(2UL, oldTerm);
        var progress = s1.GetStatus().Progress;
        Assert.Equal((2UL, 2UL), (progress[2].Match, progress[3].Match));
        // ...and still is not committed: it is not of the leader's term.
        Assert.Equal(1UL, s1.CommitIndex);
        // Once an entry of term 4 reaches the majority, both commit together.
        s1.Step(Msg(MessageType.AppendResponse, 2, 1, s1.Term, index: 3));
        s1.Step(Msg(MessageType.AppendResponse, 3, 1, s1.Term, index: 3));
        Drain(s1);
        Assert.Equal(3UL, s1.CommitIndex);
    }

    [Fact]
    public void S5_4_2_the_broken_core_commits_an_earlier_term_entry_by_counting()
    {
        var s1 = Figure8Leader(RaftTestingKnobs.CommitPriorTermByCounting);
        Assert.Equal(2UL, s1.CommitIndex);
    }

    [Fact]
    public void S5_3_proposals_between_two_readies_travel_in_one_append_per_follower()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        for (var i = 0; i < 50; i++)
        {
            leader.Propose(Encoding.UTF8.GetBytes($"c{i}"));
        }

        var appends = Drain(leader).Where(m => m.Type == MessageType.Append).ToList();
        Assert.Equal(2, appends.Count);
        Assert.All(appends, m => Assert.Equal(50, m.Entries.Length));
    }

    [Fact]
    public void S5_3_pipelining_is_bounded_by_max_in_flight_messages()
    {
        var ids = Three;
        var leader = RaftNode.Bootstrap(new RaftOptions { Id = 1, MaxEntriesPerMessage = 1, MaxInflightMessages = 4, Random = new SeededRandom(1) }, ClusterConfig.OfVoters(ids));
        var net = new TestNetwork(leader, NewNode(2, ids), NewNode(3, ids));
        net.Elect(1);
        net.Drop(MessageType.AppendResponse);
        for (var i = 0; i < 10; i++)
        {
            leader.Propose([(byte)i]);
        }

        var sent = Drain(leader).Where(m => m.Type == MessageType.Append && m.To == 2).ToList();
        Assert.Equal(4, sent.Count);
        Assert.All(sent, m => Assert.Single(m.Entries));
        Assert.Equal(ProgressState.Replicate, leader.GetStatus().Progress[2].State);
        // An acknowledgement opens the window again.
        leader.Step(Msg(MessageType.AppendResponse, 2, 1, leader.Term, index: sent[1].Entries[0].Index));
        var more = Drain(leader).Where(m => m.Type == MessageType.Append && m.To == 2).ToList();
        Assert.Equal(2, more.Count);
    }

    [Fact]
    public void S5_3_pipelining_is_bounded_by_bytes_in_flight_too()
    {
        var ids = Three;
        var leader = RaftNode.Bootstrap(new RaftOptions { Id = 1, MaxEntriesPerMessage = 1, MaxInflightMessages = 100, MaxInflightBytes = 1_000, Random = new SeededRandom(1) }, ClusterConfig.OfVoters(ids));
        var net = new TestNetwork(leader, NewNode(2, ids), NewNode(3, ids));
        net.Elect(1);
        net.Drop(MessageType.AppendResponse);
        for (var i = 0; i < 10; i++)
        {
            leader.Propose(new byte[400]);
        }

        // 400 + 400 + 400 bytes: the third message fills the window past 1,000 bytes.
        var sent = Drain(leader).Where(m => m.Type == MessageType.Append && m.To == 2).ToList();
        Assert.Equal(3, sent.Count);
        leader.Step(Msg(MessageType.AppendResponse, 2, 1, leader.Term, index: sent[0].Entries[0].Index));
        Assert.Single(Drain(leader), m => m.Type == MessageType.Append && m.To == 2);
    }

    [Fact]
    public void S5_3_a_follower_in_probe_state_gets_one_append_at_a_time()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        leader.Propose([1]);
        Drain(leader);
        leader.Propose([2]);
        Drain(leader);
        // Node 2 rejects the second append (previous index 2): back to probing from index 2.
        leader.Step(Msg(MessageType.AppendResponse, 2, 1, leader.Term, index: 2, reject: true, hint: 1, logTerm: 1));
        var probe = Assert.Single(Drain(leader), m => m.To == 2);
        Assert.Equal(ProgressState.Probe, leader.GetStatus().Progress[2].State);
        Assert.Equal(1UL, probe.Index);
        Assert.Equal([2UL, 3UL], probe.Entries.Select(e => e.Index));
        leader.Propose([3]);
        Assert.DoesNotContain(Drain(leader), m => m.To == 2 && m.Type == MessageType.Append);
    }

    [Fact]
    public void S5_3_lost_appends_are_repaired_after_the_next_heartbeat()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Drop(MessageType.Append);
        var index = leader.Propose([9]).LastIndex;
        net.Stabilize();
        Assert.Equal(1UL, net[2].LastIndex);
        net.Heal();
        net.TickAll(2);
        Assert.Equal(index, net[2].LastIndex);
        Assert.Equal(index, net[2].CommitIndex);
    }

    [Fact]
    public void S5_3_a_follower_ignores_an_append_that_would_rewrite_its_committed_prefix()
    {
        var follower = WithLog(2, Three, term: 2, entryTerms: [1, 1, 2], commit: 3);
        Drain(follower);
        follower.Step(Msg(MessageType.Append, 1, 2, term: 2, index: 1, logTerm: 1, entries: Entries(2, 1)));
        var reply = Assert.Single(Drain(follower));
        Assert.False(reply.Reject);
        Assert.Equal(3UL, reply.Index);
        Assert.True(follower.TryGetTerm(3, out var term));
        Assert.Equal(2UL, term);
    }

    private static RaftNode Figure8Leader(RaftTestingKnobs knobs)
    {
        ulong[] five = [1, 2, 3, 4, 5];
        var s1 = WithLog(1, five, term: 3, entryTerms: [1, 2], commit: 1, knobs: knobs);
        Drain(s1);
        TickUntil(s1, () => s1.Role == RaftRole.Candidate, maxTicks: 30);
        Assert.Equal(4UL, s1.Term);
        s1.Step(Msg(MessageType.VoteResponse, 2, 1, 4));
        s1.Step(Msg(MessageType.VoteResponse, 3, 1, 4));
        Assert.Equal(RaftRole.Leader, s1.Role);
        Drain(s1);
        // S2 and S3 acknowledge up to index 2 (the term-2 entry), not yet the leader's term-4 entry at 3.
        s1.Step(Msg(MessageType.AppendResponse, 2, 1, 4, index: 2));
        s1.Step(Msg(MessageType.AppendResponse, 3, 1, 4, index: 2));
        Drain(s1);
        return s1;
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 0)]
    public void A_commit_is_announced_with_one_message_per_follower_or_left_to_the_next_heartbeat(bool broadcastCommit, int expectedNotices)
    {
        ulong[] ids = [1, 2, 3];
        var leader = RaftNode.Bootstrap(new RaftOptions { Id = 1, BroadcastCommit = broadcastCommit, Random = new SeededRandom(1) }, ClusterConfig.OfVoters(ids));
        var net = new TestNetwork(leader, NewNode(2, ids), NewNode(3, ids));
        net.Elect(1);
        var index = leader.Propose([1]).LastIndex;
        Drain(leader);
        leader.Step(Msg(MessageType.AppendResponse, 2, 1, leader.Term, index: index));
        var notices = Drain(leader).Where(m => m.Type == MessageType.Append && m.To == 2).ToList();
        Assert.Equal(index, leader.CommitIndex);
        Assert.Equal(expectedNotices, notices.Count);
        Assert.All(notices, m => Assert.Equal(index, m.Commit));
        // Either way the next heartbeat carries the commit index.
        leader.Tick();
        Assert.Contains(Drain(leader), m => m.Type == MessageType.Heartbeat && m.To == 2 && m.Commit == index);
    }
}
