using ActorCluster.Cli;
using ActorCluster.Cli.Load;

namespace ActorCluster.Tests.Client;

/// <summary>The pure parts of <c>bench idle</c>: reading CPU time from /proc, and its arguments.</summary>
public sealed class IdleBenchTests
{
    [Fact]
    public void Cpu_time_is_user_plus_system_ticks_counted_after_the_command_name()
    {
        // The command name may hold spaces and parentheses: fields are counted after the last ')'.
        const string Stat = "4242 (dotnet (silo) 1) S 1 4242 4242 0 -1 4194560 7016 0 0 0 1234 567 0 0 20 0 31 0 123 0 0";
        Assert.Equal(1234 + 567, ProcessCpu.ParseTicks(Stat));
        Assert.Throws<FormatException>(() => ProcessCpu.ParseTicks("4242 dotnet S 1"));
        Assert.Throws<FormatException>(() => ProcessCpu.ParseTicks("4242 (dotnet) S 1 2 3"));
    }

    [Fact]
    public void This_process_has_used_some_cpu_and_a_process_that_does_not_exist_has_none()
    {
        var ticks = ProcessCpu.Ticks(Environment.ProcessId);
        Assert.NotNull(ticks);
        Assert.True(ticks > 0);
        Assert.Null(ProcessCpu.Ticks(int.MaxValue));
    }

    [Fact]
    public void Percent_of_one_core_is_cpu_seconds_over_wall_seconds()
    {
        // 100 ticks a second: 300 ticks in 20 s is 0.15 core-seconds a second.
        Assert.Equal(15.0, ProcessCpu.PercentOfOneCore(300, TimeSpan.FromSeconds(20)), 6);
        Assert.Equal(0, ProcessCpu.PercentOfOneCore(300, TimeSpan.Zero));
    }

    [Fact]
    public void Shard_counts_are_a_comma_separated_list_of_sensible_sizes()
    {
        Assert.Equal([8, 64, 1024], IdleBench.ShardCounts("8, 64,1024"));
        Assert.Throws<UsageException>(() => IdleBench.ShardCounts("0"));
        Assert.Throws<UsageException>(() => IdleBench.ShardCounts("64,lots"));
        Assert.Throws<UsageException>(() => IdleBench.ShardCounts("5000"));
        Assert.Throws<UsageException>(() => IdleBench.ShardCounts(","));
    }
}
