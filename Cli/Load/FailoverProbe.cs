using System.Diagnostics;

namespace ActorCluster.Cli.Load;

/// <summary>
/// Times how long until a write succeeds again after a fault: attempts with a short deadline of
/// their own, one after another. Whatever an attempt ends with — an error, a cancellation, a
/// timeout — it is a failed attempt and the probe goes on; only the overall limit ends it.
/// </summary>
public static class FailoverProbe
{
    /// <summary>Runs attempts until one succeeds; returns the time that took.</summary>
    /// <param name="attempt">One write, which should honour the token it is given.</param>
    /// <param name="attemptTimeout">How long one attempt may take before the next starts.</param>
    /// <param name="limit">How long to go on before giving up.</param>
    /// <exception cref="TimeoutException">No attempt succeeded within <paramref name="limit"/>.</exception>
    public static async Task<TimeSpan> UntilSuccessAsync(Func<CancellationToken, Task> attempt, TimeSpan attemptTimeout, TimeSpan limit)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (clock.Elapsed < limit)
        {
            using var deadline = new CancellationTokenSource(attemptTimeout);
            try
            {
                // The extra wait covers an attempt that ignores its token.
                await attempt(deadline.Token).WaitAsync(attemptTimeout * 2);
                return clock.Elapsed;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                last = e;
            }
        }

        throw new TimeoutException($"No write succeeded within {limit.TotalSeconds:0} s (last attempt: {last?.GetType().Name}: {last?.Message}).", last);
    }
}
