using System.Globalization;

namespace ActorCluster.Cli.Load;

/// <summary>
/// CPU time a process has used, read from <c>/proc/&lt;pid&gt;/stat</c> (user plus system time,
/// in clock ticks), and the share of one core between two readings.
/// </summary>
public static class ProcessCpu
{
    /// <summary>Clock ticks per second of <c>/proc</c> times (USER_HZ, 100 on Linux).</summary>
    public const double TicksPerSecond = 100;

    /// <summary>User plus system ticks of <paramref name="pid"/>; null if it has exited or /proc has no such process.</summary>
    public static long? Ticks(int pid)
    {
        try
        {
            return ParseTicks(File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// User plus system ticks from the text of a <c>stat</c> file: fields 14 and 15, counted after
    /// the command name, which is in parentheses and may itself hold spaces and parentheses.
    /// </summary>
    /// <exception cref="FormatException">The text is not a <c>stat</c> line.</exception>
    public static long ParseTicks(string stat)
    {
        ArgumentNullException.ThrowIfNull(stat);
        var close = stat.LastIndexOf(')');
        if (close < 0)
        {
            throw new FormatException("no command name in the stat line");
        }

        // After ") ": field 3 (state) is the first; utime and stime are fields 14 and 15.
        var fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 13
            || !long.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out var user)
            || !long.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out var system))
        {
            throw new FormatException("the stat line has no user and system times");
        }

        return user + system;
    }

    /// <summary>Percent of one core used over <paramref name="elapsed"/> by <paramref name="ticks"/> of CPU time.</summary>
    public static double PercentOfOneCore(long ticks, TimeSpan elapsed) =>
        elapsed <= TimeSpan.Zero ? 0 : 100.0 * ticks / TicksPerSecond / elapsed.TotalSeconds;
}
