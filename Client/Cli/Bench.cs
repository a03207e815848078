using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ActorCluster.Grains.Interfaces.Kv;

namespace ActorCluster.Client.Cli;

/// <summary>
/// A closed-loop load generator: N concurrent clients, each issuing its next operation when the
/// previous one completes, over a fixed key space. Live progress on stderr, a summary (or one JSON
/// object with --json) on stdout.
/// </summary>
internal static class Bench
{
    public static async Task<int> RunAsync(ActorClusterClient client, CommandLine line)
    {
        var settings = BenchSettings.From(line);
        var keys = Enumerable.Range(0, settings.Keys).Select(i => Key(i, settings.KeySize)).ToArray();
        if (settings.WriteFraction < 1.0)
        {
            await PreloadAsync(client, keys, settings);
        }

        Console.Error.WriteLine($"bench: {settings.Clients} clients, {settings.Keys} keys of {settings.KeySize} bytes, {settings.ValueSize}-byte values, " +
            $"{settings.MixName}, {settings.Warmup.TotalSeconds:0.#}s warm-up, {settings.Duration.TotalSeconds:0.#}s measured");
        var run = new Run(settings);
        var workers = Enumerable.Range(0, settings.Clients).Select(i => WorkerAsync(client, keys, settings, run, i)).ToArray();
        var progress = ProgressAsync(run, settings);
        await Task.WhenAll(workers);
        await progress;

        var summary = run.Summarize();
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

    /// <summary>A key of exactly <paramref name="size"/> ASCII bytes.</summary>
    public static string Key(int index, int size)
    {
        var digits = index.ToString(CultureInfo.InvariantCulture);
        return digits.Length >= size - 1 ? $"k{digits}" : "k" + digits.PadLeft(size - 1, '0');
    }

    private static async Task PreloadAsync(ActorClusterClient client, string[] keys, BenchSettings settings)
    {
        Console.Error.WriteLine($"bench: writing {keys.Length} keys first, so that reads find them");
        var value = new byte[settings.ValueSize];
        Random.Shared.NextBytes(value);
        await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = settings.Clients }, async (key, cancellationToken) =>
            await client.PutAsync(key, value, cancellationToken));
    }

    private static async Task WorkerAsync(ActorClusterClient client, string[] keys, BenchSettings settings, Run run, int seed)
    {
        await Task.Yield();
        var random = new Random(seed * 7919 + Environment.TickCount);
        var value = new byte[settings.ValueSize];
        random.NextBytes(value);
        var consistency = settings.Stale ? ReadConsistency.Stale : ReadConsistency.Linearizable;
        var latencies = new List<long>(1 << 16);
        while (!run.Finished)
        {
            var key = keys[random.Next(keys.Length)];
            var write = random.NextDouble() < settings.WriteFraction;
            var start = Stopwatch.GetTimestamp();
            try
            {
                if (write)
                {
                    await client.PutAsync(key, value);
                }
                else
                {
                    await client.GetAsync(key, consistency);
                }
            }
            catch (ActorClusterException)
            {
                run.Error();
                continue;
            }

            var elapsed = Stopwatch.GetTimestamp() - start;
            if (run.Measuring)
            {
                latencies.Add(elapsed);
                run.Completed(write);
            }
            else
            {
                run.WarmupCompleted();
            }
        }

        run.Collect(latencies);
    }

    private static async Task ProgressAsync(Run run, BenchSettings settings)
    {
        var second = 0;
        long last = 0;
        while (!run.Finished)
        {
            await Task.Delay(1000);
            second++;
            var now = run.TotalCompleted;
            var phase = second <= settings.Warmup.TotalSeconds ? "warm-up" : "measure";
            Console.Error.WriteLine($"[{second,3}s {phase}] {now - last,8:N0} ops/s  errors {run.Errors:N0}");
            last = now;
        }
    }

    private sealed record BenchSettings(int Clients, TimeSpan Duration, TimeSpan Warmup, int Keys, int KeySize, int ValueSize, double WriteFraction, string MixName, bool Stale)
    {
        public static BenchSettings From(CommandLine line)
        {
            var mix = line.Value("--mix") ?? "write";
            var fraction = mix switch
            {
                "write" => 1.0,
                "read" => 0.0,
                _ when double.TryParse(mix, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && f is >= 0 and <= 1 => f,
                _ => throw new UsageException($"--mix must be write, read or a write fraction from 0 to 1 (was '{mix}')"),
            };
            var name = fraction switch { 1.0 => "write-only", 0.0 => line.Has("--stale") ? "read-only (stale)" : "read-only (linearizable)", _ => $"{fraction:P0} writes" };
            return new BenchSettings(
                line.Int("--clients", 64, 1, 10_000),
                line.Duration("--duration", TimeSpan.FromSeconds(10)),
                line.Has("--warmup") ? line.Duration("--warmup", TimeSpan.FromSeconds(2)) : TimeSpan.FromSeconds(2),
                line.Int("--keys", 10_000, 1, 100_000_000),
                line.Int("--key-size", 16, 4, KeyRules.MaxKeyBytes),
                line.Int("--value-size", 256, 0, KeyRules.MaxValueBytes),
                fraction,
                name,
                line.Has("--stale"));
        }
    }

    private sealed class Run(BenchSettings settings)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly List<long> _latencies = [];
        private long _writes;
        private long _reads;
        private long _errors;
        private long _warmup;

        public bool Measuring => _clock.Elapsed >= settings.Warmup;

        public bool Finished => _clock.Elapsed >= settings.Warmup + settings.Duration;

        public long TotalCompleted => Interlocked.Read(ref _writes) + Interlocked.Read(ref _reads) + Interlocked.Read(ref _warmup);

        public long Errors => Interlocked.Read(ref _errors);

        public void Completed(bool write) => Interlocked.Increment(ref write ? ref _writes : ref _reads);

        public void WarmupCompleted() => Interlocked.Increment(ref _warmup);

        public void Error() => Interlocked.Increment(ref _errors);

        public void Collect(List<long> latencies)
        {
            lock (_latencies)
            {
                _latencies.AddRange(latencies);
            }
        }

        public Summary Summarize()
        {
            _latencies.Sort();
            var ops = _writes + _reads;
            var seconds = settings.Duration.TotalSeconds;
            return new Summary(
                settings.Clients, seconds, settings.Keys, settings.KeySize, settings.ValueSize, settings.MixName,
                ops, ops / seconds, _writes, _reads, _errors,
                Percentile(0.50), Percentile(0.99), Percentile(0.999), _latencies.Count == 0 ? 0 : Ms(_latencies[^1]));
        }

        private double Percentile(double p) => _latencies.Count == 0 ? 0 : Ms(_latencies[Math.Min(_latencies.Count - 1, (int)Math.Ceiling(p * _latencies.Count) - 1)]);

        private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
    }

    private sealed record Summary(
        int Clients, double DurationSeconds, int Keys, int KeySize, int ValueSize, string Mix,
        long Ops, double OpsPerSecond, long Writes, long Reads, long Errors,
        double P50Ms, double P99Ms, double P999Ms, double MaxMs);
}
