using ActorCluster.Grains.Raft;
using static ActorCluster.Tests.Raft.RaftHarness;

namespace ActorCluster.Tests.Raft;

/// <summary>Raft paper §7: snapshots, log compaction and InstallSnapshot.</summary>
public sealed class RaftSnapshotTests
{
    [Fact]
    public void S7_a_snapshot_compacts_the_log_behind_it()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        for (var i = 0; i < 10; i++)
        {
            net.Propose(1, $"v{i}");
        }

        Assert.True(leader.CreateSnapshot(8, [8]));
        leader.Compact(8);
        Assert.Equal(9UL, leader.FirstIndex);
        Assert.False(leader.TryGetTerm(7, out _));
        Assert.True(leader.TryGetTerm(8, out var term));
        Assert.Equal(1UL, term);
        Assert.Equal(8UL, leader.LatestSnapshot!.Index);
        Assert.Equal(ClusterConfig.OfVoters(1, 2, 3), leader.LatestSnapshot.Metadata.Config);
    }

    [Fact]
    public void S7_compaction_keeps_a_tail_bounded_by_entries_and_by_bytes()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        for (var i = 0; i < 10; i++)
        {
            Assert.True(leader.Propose(new byte[100 * (i + 1)]).IsAccepted);
            net.Stabilize();
        }

        // Entries 2..11 carry 100, 200, ..., 1,000 bytes.
        var applied = leader.AppliedIndex;
        Assert.Equal(11UL, applied);
        Assert.True(leader.CreateSnapshot(applied, [1]));
        Assert.Equal(applied, leader.CompactionPoint(applied, retainEntries: 0, retainBytes: long.MaxValue));
        Assert.Equal(applied - 3, leader.CompactionPoint(applied, retainEntries: 3, retainBytes: long.MaxValue));
        // 1,000 + 900 fit in 2,000 bytes; with 800 more they would not.
        Assert.Equal(applied - 2, leader.CompactionPoint(applied, retainEntries: 100, retainBytes: 2_000));
        Assert.Equal(leader.FirstIndex - 1, leader.CompactionPoint(applied, retainEntries: 100, retainBytes: long.MaxValue));
        Assert.Equal(5_500L, leader.LogBytes(leader.FirstIndex, applied));
    }

    [Fact]
    public void S7_a_snapshot_cannot_pass_the_applied_index_and_compaction_cannot_pass_the_snapshot()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Propose(1, "a");
        Assert.Throws<ArgumentOutOfRangeException>(() => leader.CreateSnapshot(leader.AppliedIndex + 1, []));
        Assert.Throws<ArgumentOutOfRangeException>(() => leader.Compact(1));
        Assert.True(leader.CreateSnapshot(1, []));
        Assert.False(leader.CreateSnapshot(1, []));
    }

    [Fact]
    public void S7_a_follower_whose_next_entry_was_compacted_receives_InstallSnapshot()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Isolate(3);
        for (var i = 0; i < 10; i++)
        {
            net.Propose(1, $"v{i}");
        }

        var snapshotIndex = leader.AppliedIndex;
        leader.CreateSnapshot(snapshotIndex, [1, 2, 3]);
        leader.Compact(snapshotIndex);
        net.Heal();
        var lagging = net[3];
        for (var i = 0; i < 5; i++)
        {
            net.TickAll();
        }

        var installs = net.Delivered.Where(m => m.Type == MessageType.InstallSnapshot).ToList();
        var install = Assert.Single(installs);
        Assert.Equal(3UL, install.To);
        Assert.Equal(snapshotIndex, install.Snapshot!.Index);
        Assert.Equal([1, 2, 3], install.Snapshot.Data);
        Assert.Equal(leader.LastIndex, lagging.LastIndex);
        Assert.Equal(leader.CommitIndex, lagging.CommitIndex);
        Assert.Equal(snapshotIndex + 1, lagging.FirstIndex);
    }

    [Fact]
    public void S7_a_follower_that_holds_the_snapshots_last_entry_acknowledges_only_what_the_snapshot_covers()
    {
        // The follower holds 1..5; entries 4 and 5 are from term 2, a leader that was deposed. The
        // leader of term 3 has 1..3 from term 1 and sends a snapshot through index 3.
        var follower = WithLog(2, [1, 2, 3], term: 2, entryTerms: [1, 1, 1, 2, 2]);
        Drain(follower);
        var snapshot = new Snapshot(new SnapshotMetadata(3, 1, ClusterConfig.OfVoters(1, 2, 3)), [7]);
        follower.Step(new Message { Type = MessageType.InstallSnapshot, From = 1, To = 2, Term = 3, Snapshot = snapshot });
        var answer = Assert.Single(Drain(follower), m => m.Type == MessageType.AppendResponse);
        Assert.False(answer.Reject);
        // Index 5 would tell the leader that its own entries 4 and 5 are stored here: they are not.
        Assert.Equal(3UL, answer.Index);
        Assert.Equal(3UL, follower.CommitIndex);
        Assert.Equal(5UL, follower.LastIndex);
    }

    [Fact]
    public void S7_the_follower_hands_the_snapshot_to_the_application_and_replaces_its_log()
    {
        var follower = WithLog(2, [1, 2, 3], term: 1, entryTerms: [1, 1]);
        Drain(follower);
        var snapshot = new Snapshot(new SnapshotMetadata(10, 2, ClusterConfig.OfVoters(1, 2, 3)), [42]);
        follower.Step(new Message { Type = MessageType.InstallSnapshot, From = 1, To = 2, Term = 2, Snapshot = snapshot });
        var ready = Assert.Single(DrainReadies(follower));
        Assert.Same(snapshot, ready.Snapshot);
        Assert.Empty(ready.CommittedEntries);
        var reply = Assert.Single(ready.Messages);
        Assert.Equal(MessageType.AppendResponse, reply.Type);
        Assert.Equal(10UL, reply.Index);
        Assert.Equal(10UL, follower.CommitIndex);
        Assert.Equal(10UL, follower.AppliedIndex);
        Assert.Equal(10UL, follower.LastIndex);
        Assert.Equal(11UL, follower.FirstIndex);
    }

    [Fact]
    public void S7_a_follower_that_already_holds_the_snapshots_last_entry_keeps_its_log()
    {
        var follower = WithLog(2, [1, 2, 3], term: 1, entryTerms: [1, 1, 1, 1]);
        Drain(follower);
        var snapshot = new Snapshot(new SnapshotMetadata(2, 1, ClusterConfig.OfVoters(1, 2, 3)), []);
        follower.Step(new Message { Type = MessageType.InstallSnapshot, From = 1, To = 2, Term = 1, Snapshot = snapshot });
        var ready = Assert.Single(DrainReadies(follower));
        Assert.Null(ready.Snapshot);
        Assert.Equal([1UL, 2UL], ready.CommittedEntries.Select(e => e.Index));
        Assert.Equal(4UL, follower.LastIndex);
        Assert.Equal(2UL, follower.CommitIndex);
    }

    [Fact]
    public void S7_a_stale_snapshot_is_ignored()
    {
        var follower = WithLog(2, [1, 2, 3], term: 1, entryTerms: [1, 1, 1], commit: 3);
        Drain(follower);
        var snapshot = new Snapshot(new SnapshotMetadata(2, 1, ClusterConfig.OfVoters(1, 2, 3)), []);
        follower.Step(new Message { Type = MessageType.InstallSnapshot, From = 1, To = 2, Term = 1, Snapshot = snapshot });
        var ready = Assert.Single(DrainReadies(follower));
        Assert.Null(ready.Snapshot);
        Assert.Equal(3UL, Assert.Single(ready.Messages).Index);
        Assert.Equal(1UL, follower.FirstIndex);
    }

    [Fact]
    public void S7_a_lost_snapshot_is_sent_again_after_an_election_timeout()
    {
        var (net, leader) = LeaderWithCompactedLog();
        net.Drop(MessageType.InstallSnapshot);
        net.TickAll(3);
        Assert.Equal(ProgressState.Snapshot, leader.GetStatus().Progress[3].State);
        net.Heal();
        net.TickAll(25);
        Assert.Equal(leader.LastIndex, net[3].LastIndex);
        Assert.Equal(ProgressState.Replicate, leader.GetStatus().Progress[3].State);
    }

    [Fact]
    public void S7_a_snapshot_still_being_sent_is_not_started_again_however_long_it_takes()
    {
        var (net, leader) = LeaderWithCompactedLog();
        net.ReportsSnapshots = false;
        net.Drop(MessageType.InstallSnapshot);
        net.TickAll(3);
        Assert.Single(net.Sent, m => m.Type == MessageType.InstallSnapshot);
        // A transfer of a large snapshot may outlast several election timeouts.
        net.TickAll(50);
        Assert.Single(net.Sent, m => m.Type == MessageType.InstallSnapshot);
        Assert.Equal(ProgressState.Snapshot, leader.GetStatus().Progress[3].State);

        // Once the transport says it was sent, the leader waits an election timeout for the answer, then sends again.
        leader.ReportSnapshot(3, sent: true);
        net.TickAll(25);
        Assert.True(net.Sent.Count(m => m.Type == MessageType.InstallSnapshot) >= 2);
    }

    [Fact]
    public void S7_a_snapshot_transfer_that_failed_starts_again_once_the_follower_answers_a_heartbeat()
    {
        var (net, leader) = LeaderWithCompactedLog();
        net.ReportsSnapshots = false;
        net.Drop(MessageType.InstallSnapshot);
        net.TickAll(3);
        Assert.Single(net.Sent, m => m.Type == MessageType.InstallSnapshot);
        leader.ReportSnapshot(3, sent: false);
        net.Stabilize();
        // Not in a loop: nothing goes out until the follower shows it is there.
        Assert.Single(net.Sent, m => m.Type == MessageType.InstallSnapshot);
        Assert.Equal(ProgressState.Probe, leader.GetStatus().Progress[3].State);

        net.Heal();
        net.TickAll();
        Assert.Equal(2, net.Sent.Count(m => m.Type == MessageType.InstallSnapshot));
        Assert.Equal(leader.LastIndex, net[3].LastIndex);
        Assert.Equal(ProgressState.Replicate, leader.GetStatus().Progress[3].State);
    }

    [Fact]
    public void S7_a_follower_the_transport_cannot_reach_is_not_sent_snapshots_in_a_loop()
    {
        var (net, leader) = LeaderWithCompactedLog();
        net.Drop(MessageType.InstallSnapshot);
        net.TickAll(3);
        Assert.Single(net.Sent, m => m.Type == MessageType.InstallSnapshot);
        // From now on every send to node 3 fails at once, and the network reports it: a leader
        // that started a new transfer after each failure would never settle.
        net.CutOneWay(1, 3);
        net.TickAll(30);
        Assert.Equal(2, net.Sent.Count(m => m.Type == MessageType.InstallSnapshot));
        Assert.Equal(RaftRole.Leader, leader.Role);
    }

    [Fact]
    public void S7_a_restarted_node_resumes_from_its_snapshot_and_reapplies_only_what_follows()
    {
        var snapshot = new Snapshot(new SnapshotMetadata(5, 1, ClusterConfig.OfVoters(1, 2, 3)), [5]);
        var entries = Entries(6, 1, 1, 2);
        var node = RaftNode.Start(Options(1), new RaftStorageState(new HardState(2, 2, 7), snapshot, entries, Applied: 5));
        Assert.Equal(2UL, node.Term);
        Assert.Equal(7UL, node.CommitIndex);
        var applied = DrainReadies(node).SelectMany(r => r.CommittedEntries).Select(e => e.Index);
        Assert.Equal([6UL, 7UL], applied);
        Assert.Equal(8UL, node.LastIndex);
        Assert.Same(snapshot, node.LatestSnapshot);
    }

    /// <summary>A leader whose log was compacted past node 3, which was cut off meanwhile (the link is healed).</summary>
    private static (TestNetwork Net, RaftNode Leader) LeaderWithCompactedLog()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Isolate(3);
        for (var i = 0; i < 5; i++)
        {
            net.Propose(1, $"v{i}");
        }

        leader.CreateSnapshot(leader.AppliedIndex, []);
        leader.Compact(leader.AppliedIndex);
        net.Heal();
        return (net, leader);
    }
}
