using System.Diagnostics;
using System.Globalization;

namespace ActorCluster.Cli.Load;

/// <summary>What a load run does.</summary>
/// <param name="Clients">Concurrent closed-loop clients: each issues its next operation when the previous completes.</param>
/// <param name="Duration">Measured time, after the warm-up.</param>
/// <param name="Warmup">Time run but not measured.</param>
/// <param name="Keys">Size of the key space, chosen from uniformly.</param>
/// <param name="KeySize">Bytes per key.</param>
/// <param name="ValueSize">Bytes per value.</param>
/// <param name="WriteFraction">Share of operations that are writes (1: write-only, 0: read-only).</param>
public sealed record LoadSettings(int Clients, TimeSpan Duration, TimeSpan Warmup, int Keys, int KeySize, int ValueSize, double WriteFraction)
{
    public string Mix => WriteFraction switch { 1.0 => "write-only", 0.0 => "read-only", _ => $"{WriteFraction:P0} writes" };
}

/// <summary>
/// The outcome of a load run; latencies in milliseconds. <see cref="Ops"/> counts the measured
/// period only, <see cref="WarmupOps"/> the operations completed during the warm-up before it.
/// </summary>
public sealed record LoadSummary(
    int Clients, double DurationSeconds, int Keys, int KeySize, int ValueSize, string Mix,
    long Ops, double OpsPerSecond, long Writes, long Reads, long Errors,
    double P50Ms, double P99Ms, double P999Ms, double MaxMs, long WarmupOps = 0);

/// <summary>
/// A closed-loop load generator over any key-value store: the same code drives ActorCluster and,
/// for comparison, etcd. Progress goes to a writer once a second.
/// </summary>
public static class LoadGenerator
{
    /// <summary>A key of exactly <paramref name="size"/> ASCII bytes.</summary>
    public static string Key(int index, int size)
    {
        var digits = index.ToString(CultureInfo.InvariantCulture);
        return digits.Length >= size - 1 ? $"k{digits}" : "k" + digits.PadLeft(size - 1, '0');
    }

    /// <summary>Writes every key once, so that reads find values.</summary>
    public static async Task PreloadAsync(Func<string, byte[], Task> put, LoadSettings settings)
    {
        ArgumentNullException.ThrowIfNull(put);
        ArgumentNullException.ThrowIfNull(settings);
        var value = new byte[settings.ValueSize];
        Random.Shared.NextBytes(value);
        await Parallel.ForEachAsync(Enumerable.Range(0, settings.Keys), new ParallelOptions { MaxDegreeOfParallelism = Math.Max(settings.Clients, 16) }, async (i, _) =>
            await put(Key(i, settings.KeySize), value));
    }

    /// <summary>
    /// Runs the load; <paramref name="isError"/> says which exceptions count as a failed operation
    /// (anything else stops the run).
    /// </summary>
    public static async Task<LoadSummary> RunAsync(Func<string, byte[], Task> put, Func<string, Task> get, LoadSettings settings, Func<Exception, bool> isError, TextWriter? progress)
    {
        ArgumentNullException.ThrowIfNull(put);
        ArgumentNullException.ThrowIfNull(get);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(isError);
        var keys = Enumerable.Range(0, settings.Keys).Select(i => Key(i, settings.KeySize)).ToArray();
        var run = new Run(settings);
        var workers = Enumerable.Range(0, settings.Clients).Select(i => WorkerAsync(put, get, keys, settings, run, isError, i)).ToArray();
        var reporter = progress is null ? Task.CompletedTask : ProgressAsync(run, settings, progress);
        await Task.WhenAll(workers);
        await reporter;
        return run.Summarize();
    }

    private static async Task WorkerAsync(Func<string, byte[], Task> put, Func<string, Task> get, string[] keys, LoadSettings settings, Run run, Func<Exception, bool> isError, int seed)
    {
        await Task.Yield();
        var random = new Random((seed * 7919) + Environment.TickCount);
        var value = new byte[settings.ValueSize];
        random.NextBytes(value);
        var latencies = new List<long>(1 << 16);
        while (!run.Finished)
        {
            var key = keys[random.Next(keys.Length)];
            var write = random.NextDouble() < settings.WriteFraction;
            var start = Stopwatch.GetTimestamp();
            try
            {
                await (write ? put(key, value) : get(key));
            }
            catch (Exception e) when (isError(e))
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

    private static async Task ProgressAsync(Run run, LoadSettings settings, TextWriter progress)
    {
        var second = 0;
        long last = 0;
        while (!run.Finished)
        {
            await Task.Delay(1000);
            second++;
            var now = run.TotalCompleted;
            var phase = second <= settings.Warmup.TotalSeconds ? "warm-up" : "measure";
            progress.WriteLine($"[{second,3}s {phase}] {now - last,8:N0} ops/s  errors {run.Errors:N0}");
            last = now;
        }
    }

    private sealed class Run(LoadSettings settings)
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

        public LoadSummary Summarize()
        {
            _latencies.Sort();
            var ops = _writes + _reads;
            var seconds = settings.Duration.TotalSeconds;
            return new LoadSummary(
                settings.Clients, seconds, settings.Keys, settings.KeySize, settings.ValueSize, settings.Mix,
                ops, ops / seconds, _writes, _reads, _errors,
                Percentile(0.50), Percentile(0.99), Percentile(0.999), _latencies.Count == 0 ? 0 : Ms(_latencies[^1]), _warmup);
        }

        private double Percentile(double p) => _latencies.Count == 0 ? 0 : Ms(_latencies[Math.Min(_latencies.Count - 1, (int)Math.Ceiling(p * _latencies.Count) - 1)]);

        private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
    }
}
