using ActorCluster.Grains.Interfaces;

namespace ActorCluster.Client.Chaos;

/// <summary>
/// Injects faults on a fixed rhythm: kill -9 and restart, SIGSTOP and SIGCONT, Raft partitions
/// (isolated silo, minority, bridge) and silos joining and leaving. With several kinds enabled,
/// every third fault combines two kinds at once (say, a partition while another silo is down).
/// Targets the silo that leads the most shards, when it can find out.
/// </summary>
internal sealed class Nemesis(ChaosOptions options, ClusterUnderTest cluster, Func<IClusterClient?> status, TextWriter log)
{
    private readonly Random _random = new(options.Seed);
    private readonly List<string> _applied = [];
    private readonly HashSet<SiloProcess> _retired = [];
    private SiloProcess? _joined;
    private int _partitionVariant;

    public IReadOnlyList<string> Applied
    {
        get
        {
            lock (log)
            {
                return [.. _applied];
            }
        }
    }

    public async Task RunAsync(DateTime until, CancellationToken cancellationToken)
    {
        var kinds = Enum.GetValues<Nemeses>().Where(k => k is not Nemeses.None and not Nemeses.All && options.Nemeses.HasFlag(k)).ToList();
        if (kinds.Count == 0)
        {
            return;
        }

        var next = 0;
        while (DateTime.UtcNow + options.FaultInterval < until && !cancellationToken.IsCancellationRequested)
        {
            var started = DateTime.UtcNow;
            var kind = kinds[next++ % kinds.Count];
            if (kinds.Count > 1 && next % 3 == 0)
            {
                var other = kinds[(next + _random.Next(kinds.Count - 1)) % kinds.Count];
                other = other == kind ? kinds[(kinds.IndexOf(kind) + 1) % kinds.Count] : other;
                Record($"combined: {kind} and {other} at once");
                // Two different silos: the leader-heavy one, and another at random.
                var first = await LeaderHeavySiloAsync();
                var rest = Targets().Where(s => s != first).ToList();
                var second = rest.Count > 0 ? rest[_random.Next(rest.Count)] : first;
                await Task.WhenAll(InjectAsync(kind, first, cancellationToken), InjectAsync(other, second, cancellationToken));
            }
            else
            {
                await InjectAsync(kind, await LeaderHeavySiloAsync(), cancellationToken);
            }

            var pause = options.FaultInterval - (DateTime.UtcNow - started);
            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause, cancellationToken);
            }
        }
    }

    /// <summary>Undoes everything still in place: thaws, restarts, heals, lets an extra silo go.</summary>
    public async Task HealAllAsync()
    {
        foreach (var silo in cluster.Silos)
        {
            cluster.Resume(silo);
        }

        // Silos that were killed come back; silos that left the cluster stay gone.
        foreach (var silo in cluster.Silos.Where(s => s.Process is { HasExited: true } && !IsRetired(s)))
        {
            cluster.Start(silo);
        }

        await cluster.HealAsync();
    }

    private async Task InjectAsync(Nemeses kind, SiloProcess target, CancellationToken cancellationToken)
    {
        switch (kind)
        {
            case Nemeses.Kill:
                Record($"kill -9 silo {target.Index}, restart after {options.FaultDuration.TotalSeconds:0}s");
                cluster.Kill(target);
                await Task.Delay(options.FaultDuration, cancellationToken);
                await RestartAsync(target, cancellationToken);
                break;
            case Nemeses.Pause:
                Record($"pause silo {target.Index} for {options.FaultDuration.TotalSeconds:0}s");
                cluster.Pause(target);
                await Task.Delay(options.FaultDuration, cancellationToken);
                cluster.Resume(target);
                break;
            case Nemeses.Partition:
                await PartitionAsync(target);
                await Task.Delay(options.FaultDuration, cancellationToken);
                await cluster.HealAsync();
                break;
            case Nemeses.Membership:
                if (_joined is null || _joined.Process is { HasExited: true })
                {
                    _joined = cluster.AddSilo();
                    Record($"silo {_joined.Index} joins");
                }
                else
                {
                    Record($"silo {_joined.Index} leaves");
                    lock (log)
                    {
                        _retired.Add(_joined);
                    }

                    await cluster.StopAsync(_joined);
                    _joined = null;
                }

                break;
        }
    }

    /// <summary>
    /// Brings a killed silo back, unless it has left the cluster meanwhile (a combined fault), and
    /// waits until it is ready, so that the next fault finds it listening.
    /// </summary>
    private async Task RestartAsync(SiloProcess silo, CancellationToken cancellationToken)
    {
        if (IsRetired(silo))
        {
            return;
        }

        cluster.Start(silo);
        try
        {
            await cluster.WaitReadyAsync(silo, TimeSpan.FromSeconds(60), cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            Record($"silo {silo.Index} did not come back: {e.Message}");
        }
    }

    private bool IsRetired(SiloProcess silo)
    {
        lock (log)
        {
            return _retired.Contains(silo);
        }
    }

    /// <summary>Silos the nemesis may fault: running, and not leaving or gone.</summary>
    private List<SiloProcess> Targets() => [.. cluster.Silos.Where(s => s.IsRunning && !IsRetired(s))];

    private async Task PartitionAsync(SiloProcess target)
    {
        var running = Targets();
        if (running.Count < 3)
        {
            return;
        }

        switch (_partitionVariant++ % 3)
        {
            case 0:
                Record($"isolate silo {target.Index} from Raft traffic");
                await SplitAsync([target], running.Where(s => s != target).ToList());
                break;
            case 1:
                var minority = running.OrderBy(_ => _random.Next()).Take((running.Count - 1) / 2).ToList();
                Record($"split minority {{{string.Join(',', minority.Select(s => s.Index))}}} from the rest");
                await SplitAsync(minority, running.Except(minority).ToList());
                break;
            default:
                // A bridge: the two ends cannot talk to each other, only through the middle.
                var order = running.OrderBy(_ => _random.Next()).ToList();
                var (left, middle, right) = (order[0], order[1], order.Skip(2).ToList());
                Record($"bridge: silo {left.Index} and silos {{{string.Join(',', right.Select(s => s.Index))}}} reach each other only through silo {middle.Index}");
                await SplitAsync([left], right);
                break;
        }
    }

    private async Task SplitAsync(List<SiloProcess> side, List<SiloProcess> others)
    {
        foreach (var silo in side)
        {
            await cluster.BlockAsync(silo, others);
        }

        foreach (var silo in others)
        {
            await cluster.BlockAsync(silo, side);
        }
    }

    private async Task<SiloProcess> LeaderHeavySiloAsync()
    {
        var running = Targets();
        try
        {
            if (status() is { } client)
            {
                var state = await client.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetStatus().WaitAsync(TimeSpan.FromSeconds(2));
                var byLeaders = state.Shards
                    .Select(s => s.Replicas.FirstOrDefault(r => r.Slot == s.LeaderSlot)?.Silo)
                    .Where(silo => silo is not null)
                    .GroupBy(silo => silo!)
                    .OrderByDescending(g => g.Count())
                    .Select(g => running.FirstOrDefault(p => g.Key.Contains($":{p.SiloPort}:", StringComparison.Ordinal)))
                    .FirstOrDefault(p => p is not null);
                if (byLeaders is not null)
                {
                    return byLeaders;
                }
            }
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            // The cluster is busy recovering: any silo will do.
        }

        return running.Count > 0 ? running[_random.Next(running.Count)] : cluster.Silos[0];
    }

    private void Record(string what)
    {
        var line = $"{DateTime.UtcNow:HH:mm:ss.fff} nemesis: {what}";
        lock (log)
        {
            _applied.Add(what);
            log.WriteLine(line);
        }
    }
}
