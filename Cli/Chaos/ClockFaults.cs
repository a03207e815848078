using System.Diagnostics;
using System.Globalization;

namespace ActorCluster.Cli.Chaos;

/// <summary>
/// Fakes silo processes' clocks with libfaketime (Debian's <c>faketime</c> package): each silo runs
/// with the library preloaded and reads its clock specification (<c>+offset xrate</c>) from a file
/// of its own, which the nemesis rewrites. Every clock of the process follows it — wall clock,
/// monotonic clock, and with them timers and sleeps — as on a machine whose oscillator runs fast or
/// slow, or whose clock was stepped.
/// </summary>
/// <remarks>
/// <para>
/// The library reads the file at most once a second and computes the clock as
/// <c>start + offset + (now - start) x rate</c>, where <c>start</c> is when the process started. So
/// a new rate takes a new offset, chosen to continue the clock from where it is; as the change
/// takes effect at some moment within two seconds of the write, the offset is the
/// one for the moment that makes the clock step forward (by at most 1.25 s at these rates), never back. A
/// restarted process starts at rate 1 with the offset its clock had: the machine's clock did not
/// change because the process restarted.
/// </para>
/// <para>
/// Only one silo's rate differs from 1 at a time, so no two silos' clocks differ in rate by more
/// than a factor of <see cref="DriftBound"/>; the silos are told that bound
/// (<c>Raft:MaxClockRateRatio</c>) and size their leases by it.
/// </para>
/// </remarks>
internal sealed class ClockFaults
{
    public const double FastRate = 1.5;
    public const double SlowRate = 0.5;

    /// <summary>The drift bound the silos are configured with: the largest ratio of two silos' clock rates the nemesis makes.</summary>
    public const double DriftBound = 2.0;

    /// <summary>
    /// How long libfaketime may keep a specification it read before reading the file again: it
    /// compares whole seconds against its one-second cache, so up to two; with a margin.
    /// </summary>
    private const double CacheSeconds = 2.5;

    private static readonly string[] Libraries =
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/faketime/libfaketimeMT.so.1",
    ];

    private readonly string _directory;
    private readonly string _library;
    private readonly Dictionary<int, Clock> _clocks = [];

    /// <summary>A silo process's clock: <c>Start</c> on this process's monotonic clock (seconds), then the specification it runs on.</summary>
    private sealed record Clock(double Start, double Offset, double Rate)
    {
        /// <summary>How far ahead of the real clock this clock is at <paramref name="now"/> (seconds).</summary>
        public double OffsetAt(double now) => Offset + ((now - Start) * (Rate - 1));
    }

    private ClockFaults(string directory, string library)
    {
        _directory = directory;
        _library = library;
    }

    /// <summary>Finds libfaketime, or says how to install it.</summary>
    public static ClockFaults Create(string directory)
    {
        var library = Libraries.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("The clock nemesis fakes silo clocks with libfaketime, which is not installed (apt-get install faketime).");
        Directory.CreateDirectory(directory);
        return new ClockFaults(directory, library);
    }

    private static double Now => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;

    private string SpecOf(SiloProcess silo) => Path.Combine(_directory, $"silo-{silo.Index}.faketime");

    /// <summary>Sets up a silo process about to start to run on its faked clock, at rate 1, from the offset its clock had.</summary>
    public void Prepare(SiloProcess silo, IDictionary<string, string?> environment)
    {
        lock (_clocks)
        {
            var now = Now;
            var clock = _clocks[silo.Index] = new Clock(now, _clocks.TryGetValue(silo.Index, out var known) ? known.OffsetAt(now) : 0, 1);
            Write(silo, clock);
        }

        environment["LD_PRELOAD"] = _library;
        environment["FAKETIME_TIMESTAMP_FILE"] = SpecOf(silo);
        environment["FAKETIME_CACHE_DURATION"] = "1";
        environment["ACTORCLUSTER_RAFT__MAXCLOCKRATERATIO"] = DriftBound.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The rate the silo's clock runs at now.</summary>
    public double RateOf(SiloProcess silo)
    {
        lock (_clocks)
        {
            return _clocks.TryGetValue(silo.Index, out var clock) ? clock.Rate : 1;
        }
    }

    /// <summary>How far ahead of the real clock the silo's clock should be now (seconds; negative when behind).</summary>
    public double ExpectedOffset(SiloProcess silo)
    {
        lock (_clocks)
        {
            return _clocks.TryGetValue(silo.Index, out var clock) ? clock.OffsetAt(Now) : 0;
        }
    }

    /// <summary>
    /// Makes the silo's clock run at <paramref name="rate"/> from now on, continuing from where it
    /// is; returns how long (real time) the change may take to reach the process.
    /// </summary>
    public TimeSpan SetRate(SiloProcess silo, double rate) => Change(silo, rate, jump: 0);

    /// <summary>Steps the silo's clock forward by <paramref name="jump"/>; returns how long the change may take to reach the process.</summary>
    public TimeSpan Jump(SiloProcess silo, TimeSpan jump) => Change(silo, rate: null, jump.TotalSeconds);

    private TimeSpan Change(SiloProcess silo, double? rate, double jump)
    {
        lock (_clocks)
        {
            var now = Now;
            var clock = _clocks.TryGetValue(silo.Index, out var known) ? known : new Clock(now, 0, 1);
            var next = rate ?? clock.Rate;
            // Continuous at the moment the change takes effect, taken where the step is forward:
            // the latest moment when slowing down, the earliest when speeding up.
            var within = CacheSeconds;
            var at = clock.Rate > next ? now + within : now;
            var changed = _clocks[silo.Index] = clock with { Offset = clock.Offset + ((at - clock.Start) * (clock.Rate - next)) + jump, Rate = next };
            Write(silo, changed);
            return TimeSpan.FromSeconds(within);
        }
    }

    private void Write(SiloProcess silo, Clock clock)
    {
        var (offset, rate) = (clock.Offset, clock.Rate);
        // Written whole and renamed into place: the library never reads half a specification.
        var path = SpecOf(silo);
        var text = string.Create(CultureInfo.InvariantCulture, $"{(offset >= 0 ? "+" : "-")}{Math.Abs(offset):0.000} x{rate:0.###}\n");
        File.WriteAllText(path + ".tmp", text);
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
