using System.Buffers.Binary;
using System.IO.Pipelines;
using ActorCluster.Grains.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Serialization;

namespace ActorCluster.Tests.Security;

/// <summary>
/// The gateway connection check on crafted bytes: what a hostile client could write with its own
/// Orleans, or without one. Real clients pass it in every cluster test.
/// </summary>
public sealed class GatewayInputCheckTests
{
    private static readonly Serializer<GatewayPreamble> Preambles = new ServiceCollection()
        .AddSerializer(builder => builder.AddAssembly(typeof(GatewayPreamble).Assembly))
        .BuildServiceProvider()
        .GetRequiredService<Serializer<GatewayPreamble>>();

    private static readonly GrainId Client = GrainId.Create("sys.client", "6b1f0c9e2a0d4f7b9e3c5a1d2b4c6e8f");
    private static readonly GrainId Ring = GrainId.Create("ring", "ring");

    [Fact]
    public async Task A_client_that_opens_as_itself_and_sends_requests_and_one_way_calls_passes()
    {
        var (passed, check) = await ReadAsync(Preamble(Client), Frame(Client, Ring, direction: 1), Frame(Observer(Client), Ring, direction: 3));
        Assert.True(passed);
        Assert.Equal(0, check.Refused);
    }

    public static TheoryData<string> Breaches() =>
    [
        "opens as a silo's hosted client",
        "opens as an observer",
        "opens as a grain",
        "preamble that does not read",
        "sender is a grain",
        "sender is a hosted client",
        "sender is another client",
        "a response",
        "cache updates",
        "to another client",
        "header too short",
        "target named with a wrong hash",
        "sender named with a wrong hash",
    ];

    [Theory]
    [MemberData(nameof(Breaches))]
    public async Task A_connection_that_breaks_the_rule_is_closed_before_orleans_reads_it(string breach)
    {
        var hosted = GrainId.Create("sys.client", "hosted-S127.0.0.1:11111:123");
        byte[][] input = breach switch
        {
            "opens as a silo's hosted client" => [Preamble(hosted), Frame(hosted, Ring, 1)],
            "opens as an observer" => [Preamble(Observer(Client)), Frame(Client, Ring, 1)],
            "opens as a grain" => [Preamble(Ring), Frame(Ring, Ring, 1)],
            "preamble that does not read" => [Length([0xFF, 0x01, 0x02]), [0xFF, 0x01, 0x02]],
            "sender is a grain" => [Preamble(Client), Frame(Ring, Ring, 1)],
            "sender is a hosted client" => [Preamble(Client), Frame(hosted, Ring, 1)],
            "sender is another client" => [Preamble(Client), Frame(GrainId.Create("sys.client", "other"), Ring, 1)],
            "a response" => [Preamble(Client), Frame(Client, Ring, 2)],
            "cache updates" => [Preamble(Client), Frame(Client, Ring, 1, flags: 1 << 7)],
            "to another client" => [Preamble(Client), Frame(Client, GrainId.Create("sys.client", "other"), 1)],
            "target named with a wrong hash" => [Preamble(Client), Frame(Client, Ring, 1, wrongHash: 3)],
            "sender named with a wrong hash" => [Preamble(Client), Frame(Client, Ring, 1, wrongHash: 1)],
            _ => [Preamble(Client), [4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0]],
        };

        var (passed, check) = await ReadAsync(input);
        Assert.False(passed);
        Assert.Equal(1, check.Refused);
    }

    [Fact]
    public async Task Frames_split_anywhere_across_reads_are_checked_all_the_same()
    {
        byte[] stream = [.. Preamble(Client), .. Frame(Client, Ring, 1), .. Frame(Ring, Ring, 1)];
        for (var cut = 1; cut < stream.Length; cut += 7)
        {
            var (passed, _) = await ReadAsync(stream[..cut], stream[cut..]);
            Assert.False(passed);
        }
    }

    /// <summary>Feeds the pieces to a check as a connection would, consuming whole frames as Orleans does.</summary>
    private static async Task<(bool Passed, GatewaySourceCheck Owner)> ReadAsync(params byte[][] pieces)
    {
        var owner = new GatewaySourceCheck(NullLogger<GatewaySourceCheck>.Instance);
        var pipe = new Pipe();
        var check = new GatewayInputCheck(pipe.Reader, owner, Preambles, "test");
        try
        {
            foreach (var piece in pieces)
            {
                await pipe.Writer.WriteAsync(piece);
                var read = await check.ReadAsync();
                check.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            }

            return (true, owner);
        }
        catch (GatewaySourceException)
        {
            return (false, owner);
        }
    }

    private static GrainId Observer(GrainId client) => GrainId.Create("sys.client", $"{client.Key}+observer");

    private static byte[] Preamble(GrainId identity)
    {
        var payload = Preambles.SerializeToArray(new GatewayPreamble { NodeIdentity = identity });
        return [.. Length(payload), .. payload];
    }

    private static byte[] Length(byte[] payload)
    {
        var length = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(length, payload.Length);
        return length;
    }

    // wrongHash: the index (0 to 3: sender type, sender key, target type, target key) of an id to
    // send with a wrong hash, or -1.
    private static byte[] Frame(GrainId sender, GrainId target, uint direction, uint flags = 0, int wrongHash = -1)
    {
        var header = new List<byte>();
        var packed = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(packed, flags | (direction << 16));
        header.AddRange(packed);
        header.AddRange(new byte[8]);
        IdSpan[] ids = [sender.Type.Value, sender.Key, target.Type.Value, target.Key];
        for (var i = 0; i < ids.Length; i++)
        {
            var encoded = SenderForgery.EncodeIdSpan(ids[i]);
            if (i == wrongHash)
            {
                // Every id here is shorter than 64 bytes: one byte of length, then the hash.
                encoded[1] ^= 0x5A;
            }

            header.AddRange(encoded);
        }
        header.AddRange(new byte[6]);
        var lengths = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(lengths, header.Count);
        return [.. lengths, .. header];
    }
}
