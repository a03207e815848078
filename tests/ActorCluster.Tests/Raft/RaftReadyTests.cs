using ActorCluster.Grains.Raft;
using static ActorCluster.Tests.Raft.RaftHarness;

namespace ActorCluster.Tests.Raft;

/// <summary>The ready contract, restarts, and the answers to misdirected or excess work.</summary>
public sealed class RaftReadyTests
{
    [Fact]
    public void A_bootstrapped_node_first_asks_to_persist_its_initial_configuration()
    {
        var node = RaftNode.Bootstrap(Options(1), ClusterConfig.OfVoters(1, 2, 3));
        var ready = node.GetReady();
        Assert.Equal(0UL, ready.Snapshot!.Index);
        Assert.Equal(ClusterConfig.OfVoters(1, 2, 3), ready.Snapshot.Metadata.Config);
        Assert.True(ready.MustSync);
        node.Advance(ready);
        Assert.False(node.HasReady());
    }

    [Fact]
    public void A_vote_is_persisted_in_the_same_ready_as_the_message_granting_it()
    {
        var node = NewNode(1, [1, 2, 3]);
        node.Step(Msg(MessageType.Vote, 2, 1, term: 4));
        var ready = Assert.Single(DrainReadies(node));
        Assert.Equal(new HardState(4, 2, 0), ready.HardState);
        Assert.False(Assert.Single(ready.Messages).Reject);
        Assert.True(ready.MustSync);
    }

    [Fact]
    public void Appended_entries_are_persisted_in_the_ready_that_carries_their_acknowledgement()
    {
        var node = NewNode(2, [1, 2, 3]);
        node.Step(Msg(MessageType.Append, 1, 2, term: 1, index: 0, logTerm: 0, entries: Entries(1, 1, 1)));
        var ready = Assert.Single(DrainReadies(node));
        Assert.Equal([1UL, 2UL], ready.Entries.Select(e => e.Index));
        Assert.Equal(2UL, Assert.Single(ready.Messages).Index);
    }

    [Fact]
    public void Only_one_ready_may_be_outstanding_and_advance_takes_that_ready()
    {
        var node = NewNode(1, [1, 2, 3]);
        node.Step(Msg(MessageType.Vote, 2, 1, term: 1));
        var ready = node.GetReady();
        Assert.Throws<InvalidOperationException>(() => node.GetReady());
        Assert.False(node.HasReady());
        Assert.Throws<InvalidOperationException>(() => node.Advance(new Ready()));
        node.Advance(ready);
    }

    [Fact]
    public void A_node_keeps_stepping_while_a_ready_is_being_persisted()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        leader.Propose([1]);
        var inFlight = leader.GetReady();
        // More proposals arrive during the write; they go in the next ready.
        leader.Propose([2]);
        leader.Propose([3]);
        net.Deliver(inFlight.Messages);
        leader.Advance(inFlight);
        var next = leader.GetReady();
        Assert.Equal([3UL, 4UL], next.Entries.Select(e => e.Index));
        leader.Advance(next);
        net.Deliver(next.Messages);
        net.Stabilize();
        Assert.Equal(4UL, leader.CommitIndex);
    }

    [Fact]
    public void The_leader_counts_its_own_entries_toward_a_quorum_only_once_they_are_durable()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        var index = leader.Propose([1]).LastIndex;
        var ready = leader.GetReady();
        // Both followers acknowledge before the leader's own write finished: a quorum without it.
        leader.Step(Msg(MessageType.AppendResponse, 2, 1, leader.Term, index: index));
        Assert.Equal(index - 1, leader.CommitIndex);
        leader.Advance(ready);
        Assert.Equal(index, leader.CommitIndex);
    }

    [Fact]
    public void A_proposal_to_a_follower_names_the_leader_and_changes_nothing()
    {
        var net = TestNetwork.Of(3);
        net.Elect(1);
        var follower = net[2];
        var before = follower.LastIndex;
        var result = follower.Propose([1]);
        Assert.Equal(ProposeStatus.NotLeader, result.Status);
        Assert.Equal(1UL, result.LeaderHint);
        Assert.Equal(before, follower.LastIndex);
        Assert.False(follower.HasReady());
    }

    [Fact]
    public void A_proposal_to_a_candidate_names_no_leader()
    {
        var node = NewNode(1, [1, 2, 3]);
        TickUntil(node, () => node.Role == RaftRole.Candidate);
        var result = node.Propose([1]);
        Assert.Equal(ProposeStatus.NotLeader, result.Status);
        Assert.Equal(RaftNode.None, result.LeaderHint);
    }

    [Fact]
    public void A_leader_refuses_proposals_beyond_its_uncommitted_limit()
    {
        var leader = RaftNode.Bootstrap(new RaftOptions { Id = 1, MaxUncommittedEntries = 3, Random = new SeededRandom(1) }, ClusterConfig.OfVoters(1, 2, 3));
        var net = new TestNetwork(leader, NewNode(2, [1, 2, 3]), NewNode(3, [1, 2, 3]));
        net.Elect(1);
        net.Isolate(1);
        Assert.True(leader.ProposeBatch([[1], [2]]).IsAccepted);
        Assert.True(leader.Propose([3]).IsAccepted);
        Assert.Equal(ProposeStatus.Overloaded, leader.Propose([4]).Status);
        Assert.Equal(4UL, leader.LastIndex);
    }

    [Fact]
    public void A_leader_refuses_proposals_beyond_its_uncommitted_bytes_and_takes_them_again_once_committed()
    {
        var leader = RaftNode.Bootstrap(new RaftOptions { Id = 1, MaxUncommittedBytes = 1_000, Random = new SeededRandom(1) }, ClusterConfig.OfVoters(1, 2, 3));
        var net = new TestNetwork(leader, NewNode(2, [1, 2, 3]), NewNode(3, [1, 2, 3]));
        net.Elect(1);
        net.Isolate(1);
        Assert.True(leader.Propose(new byte[600]).IsAccepted);
        Assert.Equal(ProposeStatus.Overloaded, leader.Propose(new byte[600]).Status);
        Assert.True(leader.Propose(new byte[400]).IsAccepted);
        Assert.Equal(ProposeStatus.Overloaded, leader.Propose([1]).Status);
        net.Heal();
        net.TickAll();
        Assert.Equal(leader.LastIndex, leader.CommitIndex);
        // Nothing uncommitted: even one proposal over the limit goes, or nothing that size ever could.
        Assert.True(leader.Propose(new byte[5_000]).IsAccepted);
        Assert.Equal(ProposeStatus.Overloaded, leader.Propose([1]).Status);
    }

    [Fact]
    public void A_new_leader_counts_the_uncommitted_bytes_it_inherits()
    {
        // Node 1 holds 2 KB of entries from term 1 that were never committed.
        ulong[] voters = [1, 2, 3];
        var snapshot = new Snapshot(new SnapshotMetadata(0, 0, ClusterConfig.OfVoters(voters)), []);
        Entry[] backlog = [new(1, 1, EntryType.Normal, new byte[1_000]), new(2, 1, EntryType.Normal, new byte[1_000])];
        var node = RaftNode.Start(new RaftOptions { Id = 1, MaxUncommittedBytes = 2_500, Random = new SeededRandom(1) }, new RaftStorageState(new HardState(1, 0, 0), snapshot, backlog, 0));
        var net = new TestNetwork(node, NewNode(2, voters), NewNode(3, voters));
        net.Drop(MessageType.AppendResponse);
        net.Campaign(1);
        Assert.Equal(RaftRole.Leader, node.Role);
        Assert.Equal(ProposeStatus.Overloaded, node.Propose(new byte[600]).Status);
        Assert.True(node.Propose(new byte[400]).IsAccepted);
    }

    [Fact]
    public void A_restarted_node_keeps_its_term_vote_and_log_and_reapplies_committed_entries()
    {
        var snapshot = new Snapshot(new SnapshotMetadata(0, 0, ClusterConfig.OfVoters(1, 2, 3)), []);
        var node = RaftNode.Start(Options(1), new RaftStorageState(new HardState(3, 2, 2), snapshot, Entries(1, 1, 2, 3), Applied: 0));
        Assert.Equal(3UL, node.Term);
        Assert.Equal(2UL, node.GetStatus().Vote);
        Assert.Equal(3UL, node.LastIndex);
        Assert.Equal([1UL, 2UL], DrainReadies(node).SelectMany(r => r.CommittedEntries).Select(e => e.Index));
        // Its vote in term 3 stands after the restart.
        node.Step(Msg(MessageType.Vote, 3, 1, term: 3, index: 10, logTerm: 3));
        Assert.True(Assert.Single(Drain(node)).Reject);
    }

    [Fact]
    public void Soft_state_changes_are_reported_once()
    {
        var net = TestNetwork.Of(3);
        var leader = net[1];
        TickUntil(leader, () => leader.Role == RaftRole.Candidate);
        var first = leader.GetReady();
        Assert.Equal(new SoftState(RaftNode.None, RaftRole.Candidate), first.SoftState);
        leader.Advance(first);
        Assert.False(leader.HasReady());
    }
}
