using ActorCluster.Grains.Raft;
using static ActorCluster.Tests.Raft.RaftHarness;

namespace ActorCluster.Tests.Raft;

/// <summary>Raft paper §5.1 (terms), §5.2 (leader election), §5.4.1 (election restriction).</summary>
public sealed class RaftElectionTests
{
    private static readonly ulong[] Three = [1, 2, 3];

    [Fact]
    public void S5_2_servers_start_as_followers()
    {
        var node = NewNode(1, Three);
        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Equal(0UL, node.Term);
        Assert.Equal(RaftNode.None, node.Leader);
    }

    [Theory]
    [InlineData(RaftRole.Follower)]
    [InlineData(RaftRole.Candidate)]
    [InlineData(RaftRole.Leader)]
    public void S5_1_a_larger_term_in_any_message_makes_the_server_a_follower_in_that_term(RaftRole role)
    {
        var node = NodeIn(role, term: 1);
        node.Step(Msg(MessageType.Append, from: 2, to: 1, term: 5, index: 0, logTerm: 0));
        Assert.Equal(5UL, node.Term);
        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Equal(2UL, node.Leader);
    }

    [Fact]
    public void S5_1_a_request_with_a_stale_term_is_rejected()
    {
        var node = WithLog(1, Three, term: 3, entryTerms: [1, 2]);
        Drain(node);
        node.Step(Msg(MessageType.Append, from: 2, to: 1, term: 2, index: 2, logTerm: 2, entries: Entries(3, 2)));
        var replies = Drain(node);
        Assert.Equal(2UL, node.LastIndex);
        Assert.Equal(3UL, node.Term);
        // The stale leader is told the newer term (so it steps down), not given an acceptance.
        var reply = Assert.Single(replies);
        Assert.Equal(MessageType.AppendResponse, reply.Type);
        Assert.Equal(3UL, reply.Term);
        Assert.Equal(0UL, reply.Index);
    }

    [Fact]
    public void S5_2_a_follower_that_hears_nothing_for_an_election_timeout_campaigns()
    {
        var node = NewNode(1, Three);
        TickUntil(node, () => node.Role == RaftRole.Candidate, maxTicks: 20);
        Assert.Equal(1UL, node.Term);
        var requests = Drain(node).Where(m => m.Type == MessageType.Vote).OrderBy(m => m.To).ToList();
        Assert.Equal([2UL, 3UL], requests.Select(m => m.To));
        Assert.All(requests, m => Assert.Equal(1UL, m.Term));
        Assert.Equal(1UL, node.GetStatus().Vote);
    }

    [Fact]
    public void S5_2_a_candidate_that_times_out_starts_a_new_election_in_a_new_term()
    {
        var node = NewNode(1, Three);
        TickUntil(node, () => node.Role == RaftRole.Candidate);
        Drain(node);
        TickUntil(node, () => node.Term == 2, maxTicks: 20);
        Assert.Equal(RaftRole.Candidate, node.Role);
        Assert.Equal(2, Drain(node).Count(m => m.Type == MessageType.Vote && m.Term == 2));
    }

    [Theory]
    [InlineData(3, new ulong[] { 2 }, new ulong[] { }, RaftRole.Leader)]
    [InlineData(3, new ulong[] { 2, 3 }, new ulong[] { }, RaftRole.Leader)]
    [InlineData(3, new ulong[] { }, new ulong[] { }, RaftRole.Candidate)]
    [InlineData(3, new ulong[] { }, new ulong[] { 2, 3 }, RaftRole.Follower)]
    [InlineData(5, new ulong[] { 2, 3 }, new ulong[] { }, RaftRole.Leader)]
    [InlineData(5, new ulong[] { 2 }, new ulong[] { 3 }, RaftRole.Candidate)]
    [InlineData(5, new ulong[] { }, new ulong[] { 2, 3, 4 }, RaftRole.Follower)]
    [InlineData(5, new ulong[] { 2 }, new ulong[] { 3, 4 }, RaftRole.Candidate)]
    public void S5_2_a_candidate_wins_with_a_majority_of_votes_and_loses_with_a_majority_against(int size, ulong[] grants, ulong[] rejects, RaftRole expected)
    {
        var ids = Enumerable.Range(1, size).Select(i => (ulong)i).ToArray();
        var node = NewNode(1, ids);
        TickUntil(node, () => node.Role == RaftRole.Candidate);
        Drain(node);
        foreach (var from in grants)
        {
            node.Step(Msg(MessageType.VoteResponse, from, 1, node.Term));
        }

        foreach (var from in rejects)
        {
            node.Step(Msg(MessageType.VoteResponse, from, 1, node.Term, reject: true));
        }

        Assert.Equal(expected, node.Role);
        Assert.Equal(1UL, node.Term);
    }

    [Fact]
    public void S5_2_each_server_votes_for_at_most_one_candidate_per_term_first_come_first_served()
    {
        var node = NewNode(1, Three);
        node.Step(Msg(MessageType.Vote, from: 2, to: 1, term: 1));
        node.Step(Msg(MessageType.Vote, from: 3, to: 1, term: 1));
        node.Step(Msg(MessageType.Vote, from: 2, to: 1, term: 1));
        var replies = Drain(node);
        Assert.Equal([false, true, false], replies.Select(m => m.Reject));
        Assert.Equal([2UL, 3UL, 2UL], replies.Select(m => m.To));
        Assert.Equal(2UL, node.GetStatus().Vote);
    }

    [Fact]
    public void S5_2_a_candidate_that_hears_from_a_leader_of_its_term_returns_to_follower()
    {
        var node = NewNode(1, Three);
        TickUntil(node, () => node.Role == RaftRole.Candidate);
        node.Step(Msg(MessageType.Append, from: 2, to: 1, term: node.Term, index: 0, logTerm: 0));
        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Equal(2UL, node.Leader);
        Assert.Equal(1UL, node.Term);
    }

    [Fact]
    public void S5_2_election_timeouts_are_randomized_between_one_and_two_timeouts()
    {
        var seen = new HashSet<int>();
        for (ulong seed = 1; seed <= 200; seed++)
        {
            var node = RaftNode.Bootstrap(new RaftOptions { Id = 1, ElectionTicks = 10, Random = new SeededRandom(seed) }, ClusterConfig.OfVoters(1, 2, 3));
            Drain(node);
            var ticks = 0;
            while (node.Role == RaftRole.Follower)
            {
                node.Tick();
                ticks++;
            }

            Assert.InRange(ticks, 10, 19);
            seen.Add(ticks);
        }

        // Randomization spreads the timeouts so that split votes are rare.
        Assert.True(seen.Count >= 8, $"only {seen.Count} distinct timeouts");
    }

    [Fact]
    public void S5_2_a_single_voter_elects_itself_at_once()
    {
        var node = NewNode(1, [1]);
        TickUntil(node, () => node.Role == RaftRole.Leader);
        Drain(node);
        Assert.Equal(1UL, node.CommitIndex);
    }

    [Fact]
    public void S5_2_a_leader_sends_heartbeats_every_heartbeat_interval()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        leader.Tick();
        var beats = Drain(leader).Where(m => m.Type == MessageType.Heartbeat).ToList();
        Assert.Equal([2UL, 3UL], beats.Select(m => m.To).Order());
        Assert.All(beats, m => Assert.Equal(leader.CommitIndex, m.Commit));
    }

    [Fact]
    public void S5_2_a_leader_is_elected_in_a_three_node_network()
    {
        var net = TestNetwork.Of(3);
        net.Elect(2);
        Assert.Equal(RaftRole.Follower, net[1].Role);
        Assert.Equal(2UL, net[1].Leader);
        Assert.Equal(2UL, net[3].Leader);
        // The leader's empty entry of its term is committed everywhere.
        Assert.All(net.Nodes.Values, n => Assert.Equal(1UL, n.CommitIndex));
    }

    [Theory]
    [InlineData(2UL, 2UL, false)] // same last term, same length: up to date
    [InlineData(3UL, 2UL, false)] // longer: up to date
    [InlineData(1UL, 2UL, true)] // shorter with the same last term
    [InlineData(1UL, 3UL, false)] // shorter but later last term wins
    [InlineData(5UL, 1UL, true)] // longer but earlier last term loses
    public void S5_4_1_a_vote_is_granted_only_to_a_candidate_whose_log_is_at_least_as_up_to_date(ulong candidateLastIndex, ulong candidateLastTerm, bool rejected)
    {
        // The voter's log: terms [1, 2].
        var voter = WithLog(1, Three, term: 2, entryTerms: [1, 2]);
        Drain(voter);
        voter.Step(Msg(MessageType.Vote, from: 2, to: 1, term: 3, index: candidateLastIndex, logTerm: candidateLastTerm));
        var reply = Assert.Single(Drain(voter));
        Assert.Equal(MessageType.VoteResponse, reply.Type);
        Assert.Equal(rejected, reply.Reject);
        Assert.Equal(3UL, voter.Term);
    }

    [Fact]
    public void S5_4_1_a_candidate_advertises_its_last_log_index_and_term()
    {
        var node = WithLog(1, Three, term: 2, entryTerms: [1, 1, 2]);
        Drain(node);
        TickUntil(node, () => node.Role == RaftRole.Candidate, maxTicks: 30);
        var request = Drain(node).First(m => m.Type == MessageType.Vote);
        Assert.Equal(3UL, request.Index);
        Assert.Equal(2UL, request.LogTerm);
        Assert.Equal(3UL, request.Term);
    }

    [Fact]
    public void S5_4_1_the_broken_core_grants_votes_without_the_log_check()
    {
        // Shows the deliberate defect the simulator must catch is real at the unit level.
        var voter = WithLog(1, Three, term: 2, entryTerms: [1, 2], knobs: RaftTestingKnobs.GrantVoteWithoutLogCheck);
        Drain(voter);
        voter.Step(Msg(MessageType.Vote, from: 2, to: 1, term: 3, index: 1, logTerm: 1));
        Assert.False(Assert.Single(Drain(voter)).Reject);
    }

    private static RaftNode NodeIn(RaftRole role, ulong term)
    {
        var node = WithLog(1, Three, term: term, entryTerms: []);
        Drain(node);
        switch (role)
        {
            case RaftRole.Candidate:
                TickUntil(node, () => node.Role == RaftRole.Candidate, maxTicks: 30);
                break;
            case RaftRole.Leader:
                TickUntil(node, () => node.Role == RaftRole.Candidate, maxTicks: 30);
                node.Step(Msg(MessageType.VoteResponse, 2, 1, node.Term));
                break;
        }

        Assert.Equal(role, node.Role);
        Drain(node);
        return node;
    }
}
