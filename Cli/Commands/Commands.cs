using System.Globalization;
using System.Text;
using System.Text.Json;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Interfaces.Configuration;
using ActorCluster.Grains.Interfaces.Kv;
using Microsoft.Extensions.Configuration;

namespace ActorCluster.Cli;

/// <summary>put, get, delete, cas, status, locate, bench and chaos.</summary>
internal static class Commands
{
    public const string Usage = """
        actorcluster: a client for an ActorCluster key-value cluster

          put <key> <value>                         set a key; prints its new version
          get <key> [--stale]                       print a key's value (linearizable unless --stale)
          delete <key>                              delete a key
          cas <key> <version> (<value> | --delete)  set (or delete) only if the key is at <version> (0: absent)
          status [--watch] [--json]                 silos, shards, leaders, terms, commit indexes;
                                                    --watch redraws every 2 s until Ctrl-C
          locate <key> [--json]                     the key's hash, its shard and arc on the ring, the shard's
                                                    replicas (silos, stores, roles) and its leader
          bench [--clients 64] [--duration 10s] [--warmup 2s] [--keys 10000] [--key-size 16]
                [--value-size 256] [--mix write|read|<write fraction>] [--stale] [--json]
          bench idle [--shards 8,64,256,1024] [--settle 10s] [--window 20s] [--windows 3]
                [--postgres <connection>] [--out <dir>] [--json]
                                                    start three silo processes per shard count; time until every
                                                    shard has a leader, then CPU per silo at rest
          chaos [--duration 60s] [--nemesis kill,pause,partition,membership,wipe,replace,disk,clock|all] [--json]
                [--postgres <connection>] [--out <dir>] [--seed <n>] [--stale-reads] [--steps <n>]
                                                    start a multi-process cluster on loopback, inject faults
                                                    while clients work, check the history is linearizable;
                                                    --steps: at least n faults, past the duration if need be

        connection (default: the local development cluster):
          --gateway host:port        a gateway; repeat for several
          --postgres <connection>    find gateways in PostgreSQL membership instead
          --tls-certificate <pfx>    connect over mutual TLS with a client certificate (--tls-password <p>)
          --tls-trust <sha256,...>   the silos' certificate thumbprints to accept (with --tls-certificate)
          --cluster-id <id>          Orleans cluster id (default: actorcluster)
          --timeout 10s              per operation, retries included

        exit codes: 0 done; 1 not found or version mismatch (status, locate: a shard has no leader now); 2 usage;
                    3 cluster unavailable (nothing applied); 4 no answer: a write's outcome is unknown; 5 invalid key or value; 6 chaos inconclusive;
                    7 the key's shard is full (nothing applied)
        """;

    private static readonly string[] ConnectionOptions = ["--gateway", "--postgres", "--cluster-id", "--timeout", "--json", "--tls-certificate", "--tls-password", "--tls-trust"];

    /// <summary>The options each command takes, besides <see cref="ConnectionOptions"/> (chaos takes only its own).</summary>
    private static readonly Dictionary<string, (int Positional, string[] Options)> CommandShapes = new(StringComparer.Ordinal)
    {
        ["put"] = (2, []),
        ["get"] = (1, ["--stale"]),
        ["delete"] = (1, []),
        ["cas"] = (2, ["--delete"]),
        ["status"] = (0, ["--watch"]),
        ["locate"] = (1, []),
        ["bench"] = (0, ["--clients", "--duration", "--warmup", "--keys", "--key-size", "--value-size", "--mix", "--stale"]),
        ["chaos"] = (0, ["--duration", "--nemesis", "--json", "--postgres", "--out", "--seed", "--stale-reads", "--silos", "--steps"]),
    };

    /// <summary>
    /// Set <c>ACTORCLUSTER_CHECK_ARGS=1</c> to have the command line parse and validate its
    /// arguments, then exit 0 without connecting to anything (how the README's commands are checked).
    /// </summary>
    public const string CheckArgumentsVariable = "ACTORCLUSTER_CHECK_ARGS";

    public static async Task<int> RunAsync(CommandLine line)
    {
        var command = line.Positional[0];
        if (!CommandShapes.TryGetValue(command, out var shape))
        {
            throw new UsageException($"unknown command '{command}'");
        }

        var checkOnly = Environment.GetEnvironmentVariable(CheckArgumentsVariable) == "1";
        if (command == "bench" && line.Positional.Count > 1 && line.Positional[1] == "idle")
        {
            // Starts clusters of its own, as chaos does: takes only its own options.
            line.RefuseOtherOptions(IdleBench.Options, "bench idle");
            if (line.Positional.Count > 2)
            {
                throw new UsageException($"'bench idle' takes no argument; '{line.Positional[2]}' is one too many");
            }

            return await IdleBench.RunAsync(line, checkOnly);
        }

        var allowed = command == "chaos" ? shape.Options : [.. ConnectionOptions, .. shape.Options];
        line.RefuseOtherOptions(allowed, command);
        var extra = command == "cas" && !line.Has("--delete") ? 1 : 0;
        if (line.Positional.Count - 1 < shape.Positional + extra)
        {
            throw new UsageException($"'{command}' needs {shape.Positional + extra} argument(s), got {line.Positional.Count - 1}");
        }

        if (line.Positional.Count - 1 > shape.Positional + extra)
        {
            throw new UsageException($"'{command}' takes {shape.Positional + extra} argument(s); '{line.Positional[shape.Positional + extra + 1]}' is one too many");
        }

        if (command == "chaos")
        {
            return await ChaosCommand.RunAsync(line, checkOnly);
        }

        var options = ClientOptions(line);
        if (command == "bench")
        {
            _ = Bench.Settings(line);
        }

        if (checkOnly)
        {
            return ExitCodes.Ok;
        }

        await using var client = await ActorClusterClient.ConnectAsync(options);
        return command switch
        {
            "put" => await PutAsync(client, line),
            "get" => await GetAsync(client, line),
            "delete" => await DeleteAsync(client, line),
            "cas" => await CompareAndSwapAsync(client, line),
            "status" => await StatusAsync(client, line),
            "locate" => await LocateAsync(client, line),
            _ => await Bench.RunAsync(client, line),
        };
    }

    /// <summary>Client options from appsettings.json, ACTORCLUSTER_* environment variables and the switches.</summary>
    public static ActorClusterClientOptions ClientOptions(CommandLine line)
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddActorClusterEnvironment()
            .Build();
        var options = new ActorClusterClientOptions
        {
            ClusterId = configuration["ActorCluster:ClusterId"] ?? "actorcluster",
            ServiceId = configuration["ActorCluster:ServiceId"] ?? "actorcluster",
        };
        configuration.GetSection(ActorClusterClientOptions.Section).Bind(options);
        var gateways = line.Values("--gateway").SelectMany(g => g.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        if (gateways.Count > 0)
        {
            options.Gateways.Clear();
            foreach (var gateway in gateways)
            {
                options.Gateways.Add(gateway);
            }
        }

        if ((line.Value("--postgres") ?? configuration["ActorCluster:Client:PostgresConnectionString"]) is { Length: > 0 } postgres)
        {
            options.ConfigureClustering = PostgresMembership.Clustering(postgres);
        }

        var tls = new ActorCluster.Grains.Interfaces.Configuration.TlsSettings();
        configuration.GetSection(ActorCluster.Grains.Interfaces.Configuration.TlsSettings.Section).Bind(tls);
        tls.CertificatePath = line.Value("--tls-certificate") ?? tls.CertificatePath;
        tls.CertificatePassword = line.Value("--tls-password") ?? tls.CertificatePassword;
        tls.TrustedThumbprints = line.Value("--tls-trust") ?? tls.TrustedThumbprints;
        if (tls.Enabled)
        {
            // The gateways ask for a client certificate and present the silos': trust only that.
            options.ConfigureClient = ClientTls.Configure(tls);
        }

        options.ClusterId = line.Value("--cluster-id") ?? options.ClusterId;
        options.TimeoutMilliseconds = (int)line.Duration("--timeout", options.Timeout).TotalMilliseconds;
        options.Validate();
        return options;
    }

    private static async Task<int> PutAsync(ActorClusterClient client, CommandLine line)
    {
        var key = line.Positional1(1, "<key>");
        var value = Encoding.UTF8.GetBytes(line.Positional1(2, "<value>"));
        var version = await client.PutAsync(key, value);
        Print(line, $"version {version}", new { key, version });
        return ExitCodes.Ok;
    }

    private static async Task<int> GetAsync(ActorClusterClient client, CommandLine line)
    {
        var key = line.Positional1(1, "<key>");
        var entry = await client.GetAsync(key, line.Has("--stale") ? ReadConsistency.Stale : ReadConsistency.Linearizable);
        if (entry is not { } found)
        {
            Console.Error.WriteLine($"not found: {key}");
            return ExitCodes.NotDone;
        }

        Print(line, Encoding.UTF8.GetString(found.Value), new { key, value = Encoding.UTF8.GetString(found.Value), version = found.Version });
        return ExitCodes.Ok;
    }

    private static async Task<int> DeleteAsync(ActorClusterClient client, CommandLine line)
    {
        var key = line.Positional1(1, "<key>");
        if (!await client.DeleteAsync(key))
        {
            Console.Error.WriteLine($"not found: {key}");
            return ExitCodes.NotDone;
        }

        Print(line, "deleted", new { key, deleted = true });
        return ExitCodes.Ok;
    }

    private static async Task<int> CompareAndSwapAsync(ActorClusterClient client, CommandLine line)
    {
        var key = line.Positional1(1, "<key>");
        var versionText = line.Positional1(2, "<version>");
        if (!ulong.TryParse(versionText, NumberStyles.None, CultureInfo.InvariantCulture, out var expected))
        {
            throw new UsageException($"<version> must be a whole number (was '{versionText}')");
        }

        var value = line.Has("--delete") ? null : Encoding.UTF8.GetBytes(line.Positional1(3, "<value> or --delete"));
        var result = await client.CompareAndSwapAsync(key, expected, value);
        if (!result.Succeeded)
        {
            Console.Error.WriteLine(result.Version == 0 ? $"version mismatch: {key} does not exist" : $"version mismatch: {key} is at version {result.Version}");
            return ExitCodes.NotDone;
        }

        Print(line, $"version {result.Version}", new { key, version = result.Version });
        return ExitCodes.Ok;
    }

    private static async Task<int> StatusAsync(ActorClusterClient client, CommandLine line)
    {
        if (!line.Has("--watch"))
        {
            return await PrintStatusAsync(client, line);
        }

        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        while (!stop.IsCancellationRequested)
        {
            if (!line.Has("--json"))
            {
                if (!Console.IsOutputRedirected)
                {
                    // Home and clear: the status redraws in place.
                    Console.Write("\u001b[H\u001b[2J");
                }

                Console.WriteLine($"{DateTime.Now:HH:mm:ss}");
            }
            try
            {
                await PrintStatusAsync(client, line);
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                // The cluster is busy or a silo just died: say so and look again.
                Console.WriteLine($"status unavailable: {e.GetType().Name}: {e.Message}");
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(2), stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return ExitCodes.Ok;
    }

    private static async Task<int> PrintStatusAsync(ActorClusterClient client, CommandLine line)
    {
        var status = await client.Cluster.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetStatus();
        if (line.Has("--json"))
        {
            Console.WriteLine(JsonSerializer.Serialize(status, JsonOptions));
            return ExitCodes.Ok;
        }

        Console.WriteLine($"ring: {status.Ring.Shards} shards x {status.Ring.ReplicationFactor} replicas (epoch {status.Ring.Epoch})");
        Console.WriteLine($"silos ({status.Silos.Count}): {string.Join(", ", status.Silos.Select(a => status.NameOf(a) == a ? a : $"{status.NameOf(a)} ({a})"))}");
        Console.WriteLine();
        Console.WriteLine($"{"shard",5}  {"leader",6}  {"term",5}  {"commit",8}  replicas (id: role applied @silo/store)");
        foreach (var shard in status.Shards)
        {
            var leader = shard.Replicas.FirstOrDefault(r => r.Replica == shard.Leader);
            var replicas = string.Join("  ", shard.Replicas.OrderBy(r => r.Replica).Select(r => $"{r.Replica}: {r.Role} {r.AppliedIndex} @{(r.SiloName.Length > 0 ? r.SiloName : status.NameOf(r.Silo))}/{r.Store[..Math.Min(6, r.Store.Length)]}"));
            Console.WriteLine($"{shard.Shard,5}  {(shard.Leader == 0 ? "-" : shard.Leader.ToString(CultureInfo.InvariantCulture)),6}  {leader?.Term ?? 0,5}  {leader?.CommitIndex ?? 0,8}  {replicas}");
        }

        var leaderless = status.Shards.Count(s => s.Leader == 0);
        return leaderless == 0 ? ExitCodes.Ok : ExitCodes.NotDone;
    }

    /// <summary>The key's place on the ring, its shard, and the shard's replicas and leader: exit 0, or 1 when the shard has no leader now.</summary>
    private static async Task<int> LocateAsync(ActorClusterClient client, CommandLine line)
    {
        var where = await client.LocateAsync(line.Positional1(1, "<key>"));
        if (line.Has("--json"))
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                key = where.Key,
                hash = where.Hash.ToString("x16", CultureInfo.InvariantCulture),
                shard = where.Shard,
                arc = where.Arc,
                arc_share = where.ArcShare,
                leader = where.Leader,
                replicas = where.Replicas,
            }, JsonOptions));
        }
        else
        {
            Console.WriteLine($"key {where.Key}: hash {where.Hash:x16}");
            Console.WriteLine($"shard {where.Shard}: arc {where.Arc}, {where.ArcShare:P2} of the ring");
            Console.WriteLine($"leader: {(where.Leader == 0 ? "none now" : $"replica {where.Leader}")}");
            foreach (var replica in where.Replicas.OrderBy(r => r.Replica))
            {
                Console.WriteLine($"  replica {replica.Replica}: {replica.Role}, term {replica.Term}, commit {replica.CommitIndex}, applied {replica.AppliedIndex}, silo {(replica.SiloName.Length > 0 ? $"{replica.SiloName} ({replica.Silo})" : replica.Silo)}, store {replica.Store}");
            }
        }

        return where.Leader == 0 ? ExitCodes.NotDone : ExitCodes.Ok;
    }

    private static void Print(CommandLine line, string text, object json) =>
        Console.WriteLine(line.Has("--json") ? JsonSerializer.Serialize(json, JsonOptions) : text);

    public static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) } };
}
