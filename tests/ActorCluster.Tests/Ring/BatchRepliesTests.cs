using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Replicas;
using ActorCluster.Grains.Shards;

namespace ActorCluster.Tests.Ring;

/// <summary>
/// How a router takes a replica's answers to a batch: finished operations are answered, redirects
/// name the next leader, and a write that may have been proposed never comes back as "not applied".
/// </summary>
public sealed class BatchRepliesTests
{
    private static readonly KvOperation[] Operations =
    [
        KvOperation.Of(new WriteRequest(WriteKind.Put, "a", [1], 0, 7, 1, 0)),
        KvOperation.Of(new WriteRequest(WriteKind.Put, "b", [2], 0, 7, 2, 0)),
        KvOperation.OfRead("c", ReadConsistency.Linearizable),
        KvOperation.Of(new WriteRequest(WriteKind.Put, "d", [4], 0, 7, 3, 0)),
    ];

    [Fact]
    public void Finished_operations_are_answered_and_a_redirect_names_the_next_leader()
    {
        var answers = new KvResponse?[4];
        var flagged = new bool[4];
        var ok = new KvResponse(KvStatus.Ok, 12);
        var next = BatchReplies.Absorb(0, Operations, [0, 1, 2, 3], [ReplicaReply.Done(ok), ReplicaReply.NotLeader(3), ReplicaReply.NotLeader(0), ReplicaReply.Retry("busy")], 2, answers, flagged);

        Assert.Equal(3UL, next);
        Assert.Same(ok, answers[0]);
        Assert.All(answers[1..], a => Assert.Null(a));
        // Only the write the replica took and pushed back may have been proposed.
        Assert.Equal([false, false, false, true], flagged);
    }

    [Fact]
    public void A_write_that_may_have_been_proposed_and_then_meets_no_session_is_an_unknown_outcome()
    {
        var answers = new KvResponse?[4];
        var flagged = new bool[4];
        // First round: the leader takes the write to "d" and loses leadership before it commits.
        BatchReplies.Absorb(0, Operations, [3], [ReplicaReply.Retry("leadership changed")], 2, answers, flagged);
        Assert.True(flagged[3]);

        // Next round, at the new leader, the session is gone: the first attempt may have applied
        // before it went, so the answer must not say "not applied" (the client would send it again
        // in a new session and apply it twice).
        var expired = new KvResponse(KvStatus.SessionExpired, 0, null, "no such session");
        BatchReplies.Absorb(0, Operations, [0, 3], [ReplicaReply.Done(expired), ReplicaReply.Done(expired)], 3, answers, flagged);
        Assert.Equal(KvStatus.SessionExpired, answers[0]!.Status);
        Assert.Equal(KvStatus.Unavailable, answers[3]!.Status);
        Assert.Contains("may have been applied", answers[3]!.Error);
    }

    [Fact]
    public void A_redirect_back_to_the_replica_asked_is_not_followed()
    {
        var answers = new KvResponse?[4];
        Assert.Equal(0UL, BatchReplies.Absorb(0, Operations, [2], [ReplicaReply.NotLeader(2)], 2, answers, new bool[4]));
        Assert.Null(answers[2]);
    }
}
