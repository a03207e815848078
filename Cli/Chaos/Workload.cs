using System.Text;

namespace ActorCluster.Cli.Chaos;

/// <summary>
/// The clients of a chaos run. Register clients read, write and compare-and-swap a few shared keys
/// (Jepsen's register workload); append clients add unique elements to a few keys by
/// read-then-compare-and-swap, so that a lost or doubly applied write shows in the final values.
/// Every call is recorded before it is sent, and its outcome when it returns: ok, fail (certainly
/// not applied) or info (unknown: a timeout).
/// </summary>
internal sealed class Workload(ChaosOptions options, HistoryRecorder history)
{
    public const int FinalReader = 10_000;

    public static string RegisterKey(int i) => $"reg-{i}";

    public static string AppendKey(int i) => $"set-{i}";

    public async Task RunRegisterClientAsync(ActorClusterClient client, int process, RunDeadline deadline, CancellationToken cancellationToken)
    {
        var random = new Random(options.Seed + process);
        var seen = new Dictionary<string, ulong>();
        var n = 0;
        while (deadline.Running && !cancellationToken.IsCancellationRequested)
        {
            var key = RegisterKey(random.Next(options.RegisterKeys));
            var dice = random.NextDouble();
            if (dice < 0.4)
            {
                var entry = await ReadAsync(client, process, key);
                if (entry is { } found)
                {
                    seen[key] = found.Version;
                }
            }
            else if (dice < 0.8)
            {
                var value = $"{process}-{++n}";
                history.Invoke(process, "write", key, value);
                try
                {
                    var version = await client.PutAsync(key, Encoding.UTF8.GetBytes(value), cancellationToken);
                    seen[key] = version;
                    history.Complete(process, EventType.Ok, "write", key, value, version);
                }
                catch (ActorClusterException e)
                {
                    history.Complete(process, EventType.Info, "write", key, value, error: e.GetType().Name);
                }
            }
            else
            {
                var value = $"{process}-{++n}";
                var expected = seen.GetValueOrDefault(key);
                history.Invoke(process, "cas", key, value, expected);
                try
                {
                    var result = await client.CompareAndSwapAsync(key, expected, Encoding.UTF8.GetBytes(value), cancellationToken);
                    seen[key] = result.Version;
                    history.Complete(process, result.Succeeded ? EventType.Ok : EventType.Fail, "cas", key, result.Succeeded ? value : null, result.Version);
                }
                catch (ActorClusterException e)
                {
                    history.Complete(process, EventType.Info, "cas", key, value, error: e.GetType().Name);
                }
            }
        }
    }

    public async Task RunAppendClientAsync(ActorClusterClient client, int process, RunDeadline deadline, CancellationToken cancellationToken)
    {
        var random = new Random(options.Seed + process);
        var n = 0;
        while (deadline.Running && !cancellationToken.IsCancellationRequested)
        {
            var key = AppendKey(random.Next(options.AppendKeys));
            var element = $"{process}-{++n}";
            history.Invoke(process, "append", key, element);
            history.Complete(process, await AppendAsync(client, key, element, cancellationToken), "append", key, element);
        }
    }

    /// <summary>A linearizable read, recorded; null when it failed or found nothing.</summary>
    public async Task<KvEntry?> ReadAsync(ActorClusterClient client, int process, string key)
    {
        history.Invoke(process, "read", key);
        try
        {
            var entry = await client.GetAsync(key, options.StaleReads && process != FinalReader ? Grains.Interfaces.Kv.ReadConsistency.Stale : Grains.Interfaces.Kv.ReadConsistency.Linearizable);
            history.Complete(process, EventType.Ok, "read", key, entry is { } e ? Encoding.UTF8.GetString(e.Value) : null, entry?.Version ?? 0);
            return entry;
        }
        catch (ActorClusterException e)
        {
            // A read changes nothing: an unanswered one is simply dropped by the checker.
            history.Complete(process, EventType.Info, "read", key, error: e.GetType().Name);
            return null;
        }
    }

    private static async Task<EventType> AppendAsync(ActorClusterClient client, string key, string element, CancellationToken cancellationToken)
    {
        var maybeApplied = false;
        for (var attempt = 0; attempt < 20 && !cancellationToken.IsCancellationRequested; attempt++)
        {
            KvEntry? current;
            try
            {
                current = await client.GetAsync(key, cancellationToken: cancellationToken);
            }
            catch (ActorClusterException)
            {
                continue;
            }

            var text = current is { } c ? Encoding.UTF8.GetString(c.Value) : null;
            var next = string.IsNullOrEmpty(text) ? element : $"{text},{element}";
            try
            {
                var result = await client.CompareAndSwapAsync(key, current?.Version ?? 0, Encoding.UTF8.GetBytes(next), cancellationToken);
                if (result.Succeeded)
                {
                    return EventType.Ok;
                }
            }
            catch (ActorClusterException)
            {
                // The swap may have applied: trying again after a fresh read could then add the
                // element a second time, so the append ends here with an unknown outcome. (The
                // client library's own retries of this swap carry its sequence number and
                // apply at most once.)
                maybeApplied = true;
                break;
            }
        }

        return maybeApplied ? EventType.Info : EventType.Fail;
    }
}

/// <summary>
/// When the clients stop: at the run's duration, unless the nemesis holds them past it (it still
/// has steps to make) and then lets them go a little later.
/// </summary>
public sealed class RunDeadline(DateTime at)
{
    private long _ticks = at.Ticks;
    private volatile bool _held;

    public DateTime At => new(Interlocked.Read(ref _ticks), DateTimeKind.Utc);

    public bool Running => _held || DateTime.UtcNow < At;

    /// <summary>Keeps the clients going whatever the time, until <see cref="Release"/>.</summary>
    public void Hold() => _held = true;

    /// <summary>Lets the clients stop at <paramref name="later"/>, or at the original time if that is later.</summary>
    public void Release(DateTime later)
    {
        if (later > At)
        {
            Interlocked.Exchange(ref _ticks, later.Ticks);
        }

        _held = false;
    }
}
