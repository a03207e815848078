using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace ActorCluster.Grains.Hosting;

/// <summary>
/// Keeps the gateway port for clients. A connection must open as an application's client (never a
/// silo's hosted client), and every message on it must be a request or a one-way call from that
/// client (its client id, or one of its observers) to a grain or a system target: never a message
/// that claims to come from a grain, a system target, a hosted client or another client, never a
/// response (a forged answer to a call a silo is waiting on), never one that carries directory
/// cache updates, never one addressed to another client, never one naming a grain by the right
/// bytes and a wrong hash. Orleans' gateway forwards whatever sender
/// a message names, and a grain call filter sees only that name and only requests, never the
/// connection; so this is enforced here, on the connection, before Orleans reads anything: the
/// first preamble or message that breaks the rule closes the connection. With TLS on it runs
/// inside TLS, on the decrypted bytes; with TLS off it runs all the same.
/// </summary>
public sealed partial class GatewaySourceCheck(ILogger<GatewaySourceCheck> logger)
{
    private long _refused;

    /// <summary>Gateway connections closed for a message that claimed a source other than their client.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Puts the check on every gateway connection of the silo, innermost (after TLS, if any).</summary>
    public static void Register(IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton<GatewaySourceCheck>();
        // PostConfigure runs after every Configure, so the check sits inside TLS's decryption.
        services.PostConfigure<SiloConnectionOptions>(options => options.ConfigureGatewayInboundConnection(builder =>
        {
            var check = builder.ApplicationServices.GetRequiredService<GatewaySourceCheck>();
            var preambles = builder.ApplicationServices.GetRequiredService<Orleans.Serialization.Serializer<GatewayPreamble>>();
            builder.Use(next => context =>
            {
                context.Transport = new CheckedTransport(context.Transport, new GatewayInputCheck(context.Transport.Input, check, preambles, context.RemoteEndPoint?.ToString() ?? "an unknown peer"));
                return next(context);
            });
        }));
    }

    internal void Refuse(string remote, string reason)
    {
        Interlocked.Increment(ref _refused);
        LogRefused(remote, reason);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Closed the gateway connection from {Remote}: {Reason}. Only clients connect to gateways")]
    private partial void LogRefused(string remote, string reason);

    private sealed class CheckedTransport(IDuplexPipe inner, PipeReader input) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = inner.Output;
    }
}

/// <summary>A message on a gateway connection claimed a source other than the client that connected.</summary>
public sealed class GatewaySourceException(string message) : Exception(message);

/// <summary>
/// The input of one gateway connection, checked as Orleans reads it: the connection preamble, then
/// frames of [header length][body length][header][body], where a header begins with its flags, the
/// message id and the sending grain (its type, then its key). Every header that is whole in a buffer
/// is checked before Orleans sees the buffer, so no message is read unchecked.
/// </summary>
internal sealed class GatewayInputCheck(PipeReader inner, GatewaySourceCheck owner, Orleans.Serialization.Serializer<GatewayPreamble> preambles, string remote) : PipeReader
{
    private const uint DirectionRequest = 1;
    private const uint DirectionOneWay = 3;
    private const uint HasCacheInvalidationHeader = 1 << 7;

    private const int MaxPreambleBytes = 1024;
    private static readonly byte[] ClientType = "sys.client"u8.ToArray();
    private static readonly byte[] HostedPrefix = System.Text.Encoding.UTF8.GetBytes(ClientAccess.HostedClientPrefix);

    private ReadOnlySequence<byte> _lastBuffer;
    private long _bufferStart;
    private long _next;
    private bool _preambleRead;
    private byte[]? _client;

    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        var result = await inner.ReadAsync(cancellationToken);
        Check(result.Buffer);
        return result;
    }

    public override bool TryRead(out ReadResult result)
    {
        if (!inner.TryRead(out result))
        {
            return false;
        }

        Check(result.Buffer);
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        _bufferStart += _lastBuffer.Slice(_lastBuffer.Start, consumed).Length;
        _lastBuffer = default;
        inner.AdvanceTo(consumed, examined);
    }

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    private void Check(ReadOnlySequence<byte> buffer)
    {
        _lastBuffer = buffer;
        while (true)
        {
            var at = _next - _bufferStart;
            if (at < 0)
            {
                // Orleans consumed bytes this check never saw whole: never expected; fail closed.
                throw Refused("the connection's framing was lost");
            }

            if (!_preambleRead)
            {
                if (at + 4 > buffer.Length)
                {
                    return;
                }

                var length = Int32At(buffer, at);
                if (length is < 0 or > MaxPreambleBytes)
                {
                    throw Refused($"a preamble of {length} bytes");
                }

                if (at + 4 + length > buffer.Length)
                {
                    return;
                }

                CheckPreamble(buffer.Slice(at + 4, length));
                _next += 4 + length;
                _preambleRead = true;
                continue;
            }

            if (at + 8 > buffer.Length)
            {
                return;
            }

            var headerBytes = Int32At(buffer, at);
            var bodyBytes = Int32At(buffer, at + 4);
            if (headerBytes <= 0 || bodyBytes < 0)
            {
                throw Refused($"a frame of {headerBytes} header and {bodyBytes} body bytes");
            }

            if (at + 8 + headerBytes > buffer.Length)
            {
                return;
            }

            CheckHeader(buffer.Slice(at + 8, headerBytes));
            _next += 8L + headerBytes + bodyBytes;
        }
    }

    /// <summary>The connection opens as an application's client: its identity is the one every message must name.</summary>
    private void CheckPreamble(ReadOnlySequence<byte> payload)
    {
        GrainId identity;
        try
        {
            identity = preambles.Deserialize(payload)?.NodeIdentity ?? default;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw Refused($"a preamble that does not read ({e.GetType().Name})");
        }

        var type = identity.Type.Value.AsSpan();
        var key = identity.Key.AsSpan();
        if (!type.SequenceEqual(ClientType) || key.IsEmpty || key.StartsWith(HostedPrefix) || key.IndexOf((byte)'+') >= 0)
        {
            throw Refused($"a connection opened as {identity}");
        }

        _client = key.ToArray();
    }

    /// <summary>
    /// A request or one-way call from the connection's client (or one of its observers), to
    /// anything but a client, carrying no directory cache updates.
    /// </summary>
    private void CheckHeader(ReadOnlySequence<byte> header)
    {
        var reader = new SequenceReader<byte>(header);
        if (!reader.TryReadLittleEndian(out int packed))
        {
            throw Refused("a message header too short to read");
        }

        var flags = (uint)packed;
        var direction = (flags >> 16) & 0xF;
        if (direction is not DirectionRequest and not DirectionOneWay)
        {
            throw Refused(direction == 2 ? "a response (clients here answer no calls)" : $"a message of direction {direction}");
        }

        if ((flags & HasCacheInvalidationHeader) != 0)
        {
            throw Refused("directory cache updates");
        }

        // The message id (8 bytes), then the sending grain and the target grain.
        if (reader.Remaining < 8)
        {
            throw Refused("a message header too short to name its sender");
        }

        reader.Advance(8);
        if (!TryReadIdSpan(ref reader, out var type) || !TryReadIdSpan(ref reader, out var key)
            || !TryReadIdSpan(ref reader, out var targetType) || !TryReadIdSpan(ref reader, out _))
        {
            throw Refused("a message header too short to name its sender and target");
        }

        if (!type.AsSpan().SequenceEqual(ClientType))
        {
            throw Refused($"a message from {Describe(type, key)}");
        }

        // An observer's key is the client's key, '+', the observer's.
        var separator = key.AsSpan().IndexOf((byte)'+');
        var client = separator < 0 ? key : key[..separator];
        if (_client is null || !client.AsSpan().SequenceEqual(_client))
        {
            throw Refused($"a message from {Describe(type, key)} on the connection of client {(_client is null ? "(none)" : Utf8(_client))}");
        }

        if (targetType.AsSpan().SequenceEqual(ClientType))
        {
            throw Refused("a message to another client");
        }
    }

    /// <summary>Orleans' raw id span: a prefix varint length, then (if not empty) a 32-bit hash and the bytes; the hash must be the bytes' own.</summary>
    private bool TryReadIdSpan(ref SequenceReader<byte> reader, out byte[] value)
    {
        value = [];
        if (!TryReadVarUInt32(ref reader, out var length))
        {
            return false;
        }

        if (length == 0)
        {
            return true;
        }

        if (length > 4096 || !reader.TryReadLittleEndian(out int hash) || reader.Remaining < length)
        {
            return false;
        }

        value = new byte[length];
        reader.TryCopyTo(value);
        reader.Advance(length);

        // Orleans takes an id's hash from the wire as sent and never computes it again, while ids
        // compare by their bytes alone: an id with the right bytes and a wrong hash misses the
        // silo's activation of that grain and the directory's entry for it, and gets a second
        // activation. Only the hash Orleans would compute passes.
        if (hash != new IdSpan(value).GetHashCode())
        {
            throw Refused($"an id ({Utf8(value)}) whose hash is not its own");
        }

        return true;
    }

    /// <summary>Orleans' prefix varint: the first byte's trailing zeros say how many more bytes follow.</summary>
    private static bool TryReadVarUInt32(ref SequenceReader<byte> reader, out uint value)
    {
        value = 0;
        if (!reader.TryPeek(out var first))
        {
            return false;
        }

        var count = System.Numerics.BitOperations.TrailingZeroCount(first | 0x100) + 1;
        if (count > 5 || reader.Remaining < count)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[8];
        bytes.Clear();
        reader.TryCopyTo(bytes[..count]);
        reader.Advance(count);
        var raw = BinaryPrimitives.ReadUInt64LittleEndian(bytes) >> count;
        if (raw > uint.MaxValue)
        {
            return false;
        }

        value = (uint)raw;
        return true;
    }

    private static int Int32At(ReadOnlySequence<byte> buffer, long offset)
    {
        Span<byte> bytes = stackalloc byte[4];
        buffer.Slice(offset, 4).CopyTo(bytes);
        return BinaryPrimitives.ReadInt32LittleEndian(bytes);
    }

    /// <summary>An id's bytes as text for the log, cut at 128 bytes: they are the peer's to choose.</summary>
    private static string Utf8(byte[] bytes) =>
        bytes.Length <= 128 ? System.Text.Encoding.UTF8.GetString(bytes) : System.Text.Encoding.UTF8.GetString(bytes, 0, 128) + "...";

    private static string Describe(byte[] type, byte[] key) => type.Length == 0 ? "no sender" : $"{Utf8(type)}/{Utf8(key)}";

    private GatewaySourceException Refused(string reason)
    {
        owner.Refuse(remote, reason);
        return new GatewaySourceException($"The gateway connection from {remote} carried {reason}; only clients connect to gateways, and the connection is closed.");
    }
}
