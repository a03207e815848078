using ActorCluster.Grains.Raft;
using static ActorCluster.Tests.Raft.RaftHarness;

namespace ActorCluster.Tests.Raft;

/// <summary>
/// Linearizable reads without log writes: paper §8 ("a leader must check whether it has been
/// deposed before processing a read-only request") and thesis §6.4 (ReadIndex).
/// </summary>
public sealed class RaftReadIndexTests
{
    [Fact]
    public void S8_a_leader_answers_a_read_index_only_after_a_heartbeat_quorum_confirms_it()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        var index = net.Propose(1, "x");
        Assert.Equal(ProposeStatus.Accepted, leader.ReadIndex(77));
        var first = leader.GetReady();
        Assert.Empty(first.ReadStates);
        var beats = first.Messages.Where(m => m.Type == MessageType.Heartbeat).ToList();
        Assert.Equal(2, beats.Count);
        Assert.All(beats, m => Assert.Equal(77UL, m.Context));
        leader.Advance(first);
        // One acknowledgement plus the leader's own is a quorum of three.
        leader.Step(Msg(MessageType.HeartbeatResponse, 2, 1, leader.Term, context: 77));
        var rest = DrainReadies(leader);
        var read = Assert.Single(rest.SelectMany(r => r.ReadStates));
        Assert.Equal(new ReadState(index, 77), read);
        // A read writes nothing to the log: no entry was appended or sent for it.
        Assert.Equal(index, leader.LastIndex);
        Assert.DoesNotContain(rest.Prepend(first).SelectMany(r => r.Messages), m => m.Type == MessageType.Append && m.Entries.Length > 0);
    }

    [Fact]
    public void Thesis_6_4_a_read_round_whose_heartbeats_were_lost_completes_with_the_next_periodic_heartbeat()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        var index = net.Propose(1, "x");
        Assert.Equal(ProposeStatus.Accepted, leader.ReadIndex(41));
        // The round's own heartbeats are lost on the way.
        var lost = Drain(leader);
        Assert.Equal(2, lost.Count(m => m.Type == MessageType.Heartbeat && m.Context == 41));
        net.Stabilize();
        Assert.Empty(net.Reads[1]);

        // The next periodic heartbeat carries the pending read's context again, and its answers confirm it.
        leader.Tick();
        var beats = leader.GetReady();
        Assert.All(beats.Messages.Where(m => m.Type == MessageType.Heartbeat), m => Assert.Equal(41UL, m.Context));
        net.Record(1, beats);
        leader.Advance(beats);
        net.Deliver(beats.Messages);
        net.Stabilize();
        Assert.Equal(new ReadState(index, 41), Assert.Single(net.Reads[1]));

        // Once nothing waits, heartbeats carry no context.
        leader.Tick();
        Assert.All(Drain(leader).Where(m => m.Type == MessageType.Heartbeat), m => Assert.Equal(0UL, m.Context));
    }

    [Fact]
    public void Thesis_6_4_a_lost_round_does_not_hold_up_the_reads_queued_behind_it()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        var index = net.Propose(1, "x");
        leader.ReadIndex(1);
        Drain(leader);
        leader.ReadIndex(2);
        Drain(leader);
        net.Stabilize();
        Assert.Empty(net.Reads[1]);
        // A periodic heartbeat carries the newest context; its confirmation completes both rounds in order.
        net.TickAll();
        Assert.Equal([new ReadState(index, 1), new ReadState(index, 2)], net.Reads[1]);
    }

    [Fact]
    public void S8_a_deposed_leader_cut_off_from_the_quorum_never_answers_a_read()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Isolate(1);
        leader.ReadIndex(5);
        net.Stabilize();
        for (var i = 0; i < 5; i++)
        {
            leader.Tick();
            net.Stabilize();
        }

        Assert.Empty(DrainReadies(leader).SelectMany(r => r.ReadStates));
    }

    [Fact]
    public void Thesis_6_4_a_new_leader_defers_reads_until_it_commits_an_entry_of_its_term()
    {
        var net = TestNetwork.Of(3);
        net.Drop(MessageType.AppendResponse);
        net.Campaign(1);
        var leader = net[1];
        Assert.Equal(RaftRole.Leader, leader.Role);
        Assert.Equal(0UL, leader.CommitIndex);
        leader.ReadIndex(9);
        net.Stabilize();
        Assert.Empty(DrainReadies(leader).SelectMany(r => r.ReadStates));
        net.Heal();
        Assert.Empty(net.Reads[1]);
        net.TickAll(2);
        var reads = net.Reads[1];
        Assert.Equal(new ReadState(1, 9), Assert.Single(reads));
    }

    [Fact]
    public void Thesis_6_4_a_follower_forwards_the_read_to_the_leader_and_gets_the_index_back()
    {
        var net = TestNetwork.Of(3);
        net.Elect(1);
        var index = net.Propose(1, "x");
        var follower = net[2];
        Assert.Equal(ProposeStatus.Accepted, follower.ReadIndex(31));
        net.Stabilize();
        Assert.Equal(new ReadState(index, 31), Assert.Single(net.Reads[2]));
        Assert.Contains(net.Delivered, m => m.Type == MessageType.ReadIndex && m.From == 2 && m.To == 1);
    }

    [Fact]
    public void Thesis_6_4_a_node_that_knows_no_leader_refuses_the_read()
    {
        var node = NewNode(1, [1, 2, 3]);
        Assert.Equal(ProposeStatus.NotLeader, node.ReadIndex(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => node.ReadIndex(0));
    }

    [Fact]
    public void Thesis_6_4_a_single_voter_answers_at_once()
    {
        var net = new TestNetwork(NewNode(1, [1]));
        var leader = net.Elect(1);
        leader.ReadIndex(3);
        Assert.Equal(new ReadState(1, 3), Assert.Single(DrainReadies(leader).SelectMany(r => r.ReadStates)));
    }

    [Fact]
    public void Thesis_6_4_one_confirmation_completes_every_earlier_read_too()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        leader.ReadIndex(1);
        leader.ReadIndex(2);
        Drain(leader);
        leader.Step(Msg(MessageType.HeartbeatResponse, 3, 1, leader.Term, context: 2));
        var reads = DrainReadies(leader).SelectMany(r => r.ReadStates).ToList();
        Assert.Equal([1UL, 2UL], reads.Select(r => r.Context));
    }
}
