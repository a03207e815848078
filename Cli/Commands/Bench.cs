using System.Globalization;
using System.Text.Json;
using ActorCluster.Cli.Load;
using ActorCluster.Grains.Interfaces.Kv;

namespace ActorCluster.Cli;

/// <summary>The bench command: the load generator against this cluster.</summary>
internal static class Bench
{
    public static async Task<int> RunAsync(ActorClusterClient client, CommandLine line)
    {
        var settings = Settings(line);
        var consistency = line.Has("--stale") ? ReadConsistency.Stale : ReadConsistency.Linearizable;
        Task Put(string key, byte[] value) => client.PutAsync(key, value);
        Task Get(string key) => client.GetAsync(key, consistency);
        if (settings.WriteFraction < 1.0)
        {
            Console.Error.WriteLine($"bench: writing {settings.Keys} keys first, so that reads find them");
            await LoadGenerator.PreloadAsync(Put, settings);
        }

        Console.Error.WriteLine($"bench: {settings.Clients} clients, {settings.Keys} keys of {settings.KeySize} bytes, {settings.ValueSize}-byte values, " +
            $"{settings.Mix}{(settings.WriteFraction < 1 ? $" ({consistency.ToString().ToLowerInvariant()} reads)" : string.Empty)}, " +
            $"{settings.Warmup.TotalSeconds:0.#}s warm-up, {settings.Duration.TotalSeconds:0.#}s measured");
        var summary = await LoadGenerator.RunAsync(Put, Get, settings, e => e is ActorClusterException, Console.Error);
        if (line.Has("--json"))
        {
            Console.WriteLine(JsonSerializer.Serialize(summary, Commands.JsonOptions));
        }
        else
        {
            Console.WriteLine($"ops: {summary.Ops:N0} in {summary.DurationSeconds:0.0}s = {summary.OpsPerSecond:N0} ops/s " +
                $"({summary.Writes:N0} writes, {summary.Reads:N0} reads, {summary.Errors:N0} errors)");
            Console.WriteLine($"latency ms: p50 {summary.P50Ms:0.00}  p99 {summary.P99Ms:0.00}  p999 {summary.P999Ms:0.00}  max {summary.MaxMs:0.00}");
        }

        return summary.Errors == 0 ? ExitCodes.Ok : ExitCodes.NotDone;
    }

    public static LoadSettings Settings(CommandLine line)
    {
        var mix = line.Value("--mix") ?? "write";
        var fraction = mix switch
        {
            "write" => 1.0,
            "read" => 0.0,
            _ when double.TryParse(mix, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && f is >= 0 and <= 1 => f,
            _ => throw new UsageException($"--mix must be write, read or a write fraction from 0 to 1 (was '{mix}')"),
        };
        return new LoadSettings(
            line.Int("--clients", 64, 1, 10_000),
            line.Duration("--duration", TimeSpan.FromSeconds(10)),
            line.Duration("--warmup", TimeSpan.FromSeconds(2)),
            line.Int("--keys", 10_000, 1, 100_000_000),
            line.Int("--key-size", 16, 4, KeyRules.MaxKeyBytes),
            line.Int("--value-size", 256, 0, KeyRules.MaxValueBytes),
            fraction);
    }
}
