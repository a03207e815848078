using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Tests.Cluster;

namespace ActorCluster.Tests.Security;

/// <summary>
/// A session belongs to the client that opened it: another client that knows (or guesses) its id
/// and next sequence cannot write in it, nor be answered from it.
/// </summary>
public sealed class SessionTokenClusterTests
{
    [Fact]
    public async Task A_client_writing_with_another_clients_session_and_sequence_is_refused_and_the_owners_write_applies()
    {
        await using var test = await TestCluster.StartAsync(shards: 1);
        var shard = test.Cluster.Client.GetGrain<IShardGrain>(0);
        var mine = SessionTokens.Create();
        var session = (await shard.Write(WriteRequest.OpenSession(mine))).Version;

        // B guesses A's session (the log index of its open) and its next sequence, 1.
        var thief = SessionTokens.Create();
        var stolen = await shard.Write(new WriteRequest(WriteKind.Put, "k", "B"u8.ToArray(), 0, session, 1, 0, thief));
        Assert.Equal(KvStatus.SessionNotOwned, stolen.Status);
        Assert.Null(await test.Client.GetAsync("k"));

        // A's put with sequence 1 applies: it is not answered from B's attempt.
        var put = await shard.Write(new WriteRequest(WriteKind.Put, "k", "A"u8.ToArray(), 0, session, 1, 0, mine));
        Assert.Equal(KvStatus.Ok, put.Status);
        var read = (await test.Client.GetAsync("k"))!.Value;
        Assert.Equal("A"u8.ToArray(), read.Value);
        Assert.Equal(put.Version, read.Version);

        // B again, now that A's answer is remembered: refused, not handed A's Ok.
        var replay = await shard.Write(new WriteRequest(WriteKind.Put, "k", "B"u8.ToArray(), 0, session, 1, 0, thief));
        Assert.Equal(KvStatus.SessionNotOwned, replay.Status);
        // A write without a token at all is refused before it reaches the log.
        var tokenless = await shard.Write(new WriteRequest(WriteKind.Put, "k", "B"u8.ToArray(), 0, session, 2, 0));
        Assert.Equal(KvStatus.InvalidRequest, tokenless.Status);
        Assert.Equal("A"u8.ToArray(), (await test.Client.GetAsync("k"))!.Value.Value);
    }
}
