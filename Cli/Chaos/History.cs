using System.Text.Json;
using System.Text.Json.Serialization;

namespace ActorCluster.Cli.Chaos;

/// <summary>What an event of the history records: a call, or how it ended.</summary>
public enum EventType
{
    /// <summary>The operation was called.</summary>
    Invoke,

    /// <summary>It completed, with the recorded result.</summary>
    Ok,

    /// <summary>It certainly did not take effect (a refused compare-and-swap, an error before sending).</summary>
    Fail,

    /// <summary>Its outcome is unknown (a timeout): it may or may not have taken effect.</summary>
    Info,
}

/// <summary>
/// One line of a history file (JSON Lines, the fields Jepsen-style checkers read): which process
/// (client), what happened, the function, key and value, and a monotonic time in nanoseconds.
/// Versions are ActorCluster's: for reads and writes the key's version, for compare-and-swap the
/// expected version on invoke and the new one on success.
/// </summary>
public sealed record HistoryEvent(
    [property: JsonPropertyName("process")] int Process,
    [property: JsonPropertyName("type")] EventType Type,
    [property: JsonPropertyName("f")] string Function,
    [property: JsonPropertyName("key")] string Key,
    [property: JsonPropertyName("value")] string? Value,
    [property: JsonPropertyName("time")] long Time,
    [property: JsonPropertyName("version")] ulong? Version = null,
    [property: JsonPropertyName("expected")] ulong? Expected = null,
    [property: JsonPropertyName("error")] string? Error = null);

/// <summary>Reads and writes history files, one JSON object per line.</summary>
public static class HistoryFile
{
    private static readonly JsonSerializerOptions Options = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public static string Serialize(HistoryEvent e) => JsonSerializer.Serialize(e, Options);

    public static HistoryEvent Parse(string line) =>
        JsonSerializer.Deserialize<HistoryEvent>(line, Options) ?? throw new FormatException("Empty history line.");

    public static async Task WriteAsync(string path, IEnumerable<HistoryEvent> events)
    {
        await using var writer = new StreamWriter(path);
        foreach (var e in events)
        {
            await writer.WriteLineAsync(Serialize(e));
        }
    }

    public static IEnumerable<HistoryEvent> Read(string path) =>
        File.ReadLines(path).Where(l => l.Length > 0).Select(Parse);
}
