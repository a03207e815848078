using ActorCluster.Cli.Load;

namespace ActorCluster.Tests.Client;

/// <summary>The failover probe of the etcd comparison: a failed attempt is a failed attempt, whatever it throws.</summary>
public sealed class FailoverProbeTests
{
    [Fact]
    public async Task Cancelled_timed_out_and_failed_attempts_do_not_end_the_probe()
    {
        var attempts = 0;
        var took = await FailoverProbe.UntilSuccessAsync(async token =>
        {
            switch (++attempts)
            {
                case 1:
                    // What etcd's client threw on its third failover: the attempt's token fired.
                    await Task.Delay(Timeout.Infinite, token);
                    break;
                case 2:
                    throw new OperationCanceledException("the put was cancelled");
                case 3:
                    // An attempt that ignores its token is given up on all the same.
                    await Task.Delay(TimeSpan.FromSeconds(30), CancellationToken.None);
                    break;
                case 4:
                    throw new InvalidOperationException("no leader");
            }
        }, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(10));
        Assert.Equal(5, attempts);
        Assert.True(took < TimeSpan.FromSeconds(5), $"took {took}");
    }

    [Fact]
    public async Task A_probe_that_never_succeeds_ends_with_a_timeout_naming_the_last_failure()
    {
        var error = await Assert.ThrowsAsync<TimeoutException>(() =>
            FailoverProbe.UntilSuccessAsync(_ => throw new InvalidOperationException("still down"), TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(200)));
        Assert.Contains("still down", error.Message, StringComparison.Ordinal);
    }
}
