using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;

namespace ActorCluster.Tests.Security;

/// <summary>
/// What a hostile client could do with its own copy of Orleans: rewrite the sending grain of the
/// messages it sends to a gateway. Sits on the client's connections (inside TLS, if any) and, while
/// <see cref="Sender"/> is set, puts that grain id in every message header it sends.
/// </summary>
internal sealed class SenderForgery
{
    /// <summary>The sender to claim from now on (null: send messages as they are).</summary>
    public GrainId? Sender { get; set; }

    /// <summary>When set, every message goes as a response (Orleans' direction 2), whatever it was.</summary>
    public bool AsResponse { get; set; }

    /// <summary>
    /// When set, every message names its target grain by the right bytes and a wrong hash (Orleans
    /// takes the hash from the wire: such an id misses the grain's activation and gets another).
    /// </summary>
    public bool WrongTargetHash { get; set; }

    /// <summary>Messages sent with a forged sender so far.</summary>
    public int Forged => _forged;

    private int _forged;

    /// <summary>Adds the forgery to a client's connections, innermost (after TLS).</summary>
    public void AddTo(IClientBuilder client) =>
        client.Services.PostConfigure<ClientConnectionOptions>(options => options.ConfigureConnection(builder => builder.Use(next => context =>
        {
            var outgoing = new Pipe();
            var transport = context.Transport;
            _ = PumpAsync(outgoing.Reader, transport.Output);
            context.Transport = new Duplex(transport.Input, outgoing.Writer);
            return next(context);
        })));

    private async Task PumpAsync(PipeReader from, PipeWriter to)
    {
        try
        {
            var preambleDone = false;
            while (true)
            {
                var read = await from.ReadAsync();
                var buffer = read.Buffer;
                while (true)
                {
                    if (!preambleDone)
                    {
                        if (buffer.Length < 4)
                        {
                            break;
                        }

                        var length = Int32At(buffer, 0);
                        if (buffer.Length < 4 + length)
                        {
                            break;
                        }

                        to.Write(buffer.Slice(0, 4 + length).ToArray());
                        buffer = buffer.Slice(4 + length);
                        preambleDone = true;
                        continue;
                    }

                    if (buffer.Length < 8)
                    {
                        break;
                    }

                    var headerLength = Int32At(buffer, 0);
                    var bodyLength = Int32At(buffer, 4);
                    if (buffer.Length < 8L + headerLength + bodyLength)
                    {
                        break;
                    }

                    var header = buffer.Slice(8, headerLength).ToArray();
                    var body = buffer.Slice(8 + headerLength, bodyLength).ToArray();
                    buffer = buffer.Slice(8L + headerLength + bodyLength);
                    if (Sender is { } sender)
                    {
                        header = Rewrite(header, sender);
                        Interlocked.Increment(ref _forged);
                    }

                    if (AsResponse)
                    {
                        var flags = BinaryPrimitives.ReadUInt32LittleEndian(header);
                        BinaryPrimitives.WriteUInt32LittleEndian(header, (flags & ~0x000F_0000u) | (2u << 16));
                        Interlocked.Increment(ref _forged);
                    }

                    if (WrongTargetHash)
                    {
                        CorruptTargetHash(header);
                        Interlocked.Increment(ref _forged);
                    }

                    var lengths = new byte[8];
                    BinaryPrimitives.WriteInt32LittleEndian(lengths, header.Length);
                    BinaryPrimitives.WriteInt32LittleEndian(lengths.AsSpan(4), body.Length);
                    to.Write(lengths);
                    to.Write(header);
                    to.Write(body);
                }

                from.AdvanceTo(buffer.Start, buffer.End);
                var flushed = await to.FlushAsync();
                if (read.IsCompleted || flushed.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception)
        {
            // The connection went: so does the pump.
        }
        finally
        {
            await from.CompleteAsync();
            await to.CompleteAsync();
        }
    }

    /// <summary>The header with its sending grain (after the flags and the message id) replaced.</summary>
    private static byte[] Rewrite(byte[] header, GrainId sender)
    {
        var at = 12;
        at += IdSpanLength(header, at);
        at += IdSpanLength(header, at);
        var forged = new List<byte>(header.AsSpan(0, 12).ToArray());
        forged.AddRange(EncodeIdSpan(sender.Type.Value));
        forged.AddRange(EncodeIdSpan(sender.Key));
        forged.AddRange(header.AsSpan(at).ToArray());
        return [.. forged];
    }

    /// <summary>Flips the hash of the target grain's key (after the flags, the message id, the sender and the target's type).</summary>
    private static void CorruptTargetHash(byte[] header)
    {
        var at = 12;
        at += IdSpanLength(header, at);
        at += IdSpanLength(header, at);
        at += IdSpanLength(header, at);
        var (length, bytes) = ReadVarUInt32(header, at);
        if (length > 0)
        {
            header[at + bytes] ^= 0x5A;
        }
    }

    private static int IdSpanLength(byte[] header, int at)
    {
        var (length, bytes) = ReadVarUInt32(header, at);
        return bytes + (length == 0 ? 0 : 4 + (int)length);
    }

    private static (uint Value, int Bytes) ReadVarUInt32(byte[] data, int at)
    {
        var count = System.Numerics.BitOperations.TrailingZeroCount(data[at] | 0x100) + 1;
        var raw = new byte[8];
        data.AsSpan(at, count).CopyTo(raw);
        return ((uint)(BinaryPrimitives.ReadUInt64LittleEndian(raw) >> count), count);
    }

    /// <summary>Orleans' raw id span: a prefix varint length, then (if not empty) the 32-bit hash and the bytes.</summary>
    internal static byte[] EncodeIdSpan(IdSpan value)
    {
        var bytes = value.AsSpan().ToArray();
        var encoded = new List<byte>(EncodeVarUInt32((uint)bytes.Length));
        if (bytes.Length > 0)
        {
            var hash = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(hash, value.GetHashCode());
            encoded.AddRange(hash);
            encoded.AddRange(bytes);
        }

        return [.. encoded];
    }

    /// <summary>Orleans' prefix varint: as many trailing zero bits in the first byte as bytes follow it.</summary>
    private static byte[] EncodeVarUInt32(uint value)
    {
        var extra = value == 0 ? 0 : System.Numerics.BitOperations.Log2(value) / 7;
        var raw = (((ulong)value << 1) + 1) << extra;
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, raw);
        return bytes[..(extra + 1)];
    }

    private static int Int32At(ReadOnlySequence<byte> buffer, long offset)
    {
        Span<byte> bytes = stackalloc byte[4];
        buffer.Slice(offset, 4).CopyTo(bytes);
        return BinaryPrimitives.ReadInt32LittleEndian(bytes);
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
