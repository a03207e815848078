using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace ActorCluster.Cli.Chaos;

/// <summary>
/// Cuts traffic between silo processes at the packet level, on loopback: each silo process lives
/// in a cgroup (v2) of its own; the run's nftables table marks every packet a silo sends with the
/// silo's number as it leaves (output hook) and, for a cut, drops the packets of one silo's mark
/// that arrive for a socket of the other silo's cgroup (input hook). Whichever side opened a
/// connection and whatever the ports, Raft's grain calls, membership probes and the grain
/// directory between the two are cut, while PostgreSQL and the clients (in no silo's cgroup)
/// still reach both. The silos know nothing of it. Every cut counts what it drops, so it is
/// confirmed by packets actually dropped. Needs root and nftables.
/// </summary>
internal sealed class PacketFilter : IAsyncDisposable
{
    private const string CgroupRoot = "/sys/fs/cgroup";
    private readonly string _table;
    private readonly string _cgroupMount;
    private readonly string _cgroupPrefix;
    private readonly Action<string> _log;
    private readonly HashSet<int> _cgroups = [];

    private PacketFilter(string table, string cgroupMount, string cgroupPrefix, Action<string> log)
    {
        _table = table;
        _cgroupMount = cgroupMount;
        _cgroupPrefix = cgroupPrefix;
        _log = log;
    }

    /// <summary>Creates the run's table and chain; throws with what is missing when it cannot.</summary>
    public static async Task<PacketFilter> CreateAsync(Action<string> log)
    {
        // nftables matches a socket's cgroup by its path under /sys/fs/cgroup: find where cgroup2 is.
        var mount = File.Exists("/proc/mounts")
            ? File.ReadAllLines("/proc/mounts").Select(l => l.Split(' ')).FirstOrDefault(f => f.Length > 2 && f[2] == "cgroup2")?[1]
            : null;
        if (mount is null || !(mount == CgroupRoot || mount.StartsWith(CgroupRoot + "/", StringComparison.Ordinal)))
        {
            throw new InvalidOperationException($"Partitions cut packets between silos' cgroups, and no cgroup2 file system is mounted under {CgroupRoot}.");
        }

        var prefix = mount == CgroupRoot ? string.Empty : mount[(CgroupRoot.Length + 1)..] + "/";
        var filter = new PacketFilter($"actorcluster_chaos_{Environment.ProcessId}", mount, prefix, log);
        await NftAsync($"add table inet {filter._table}");
        await NftAsync($"add chain inet {filter._table} out {{ type filter hook output priority 0; policy accept; }}");
        await NftAsync($"add chain inet {filter._table} in {{ type filter hook input priority 0; policy accept; }}");
        return filter;
    }

    /// <summary>Puts the silo's process (started just now) into its cgroup, whose packets are marked from the first start on.</summary>
    public async Task AdoptAsync(SiloProcess silo)
    {
        var directory = Path.Combine(_cgroupMount, CgroupName(silo));
        Directory.CreateDirectory(directory);
        // Moved first, before it opens any socket: a socket belongs to the cgroup its process was
        // in when it was created, so a socket opened while the marking rule was still being added
        // would escape every cut for good (one CI run saw a silo's cuts drop nothing, both ways).
        await File.WriteAllTextAsync(Path.Combine(directory, "cgroup.procs"), silo.Process!.Id.ToString(CultureInfo.InvariantCulture));
        if (_cgroups.Add(silo.Index))
        {
            await NftAsync($"add rule inet {_table} out socket cgroupv2 level 1 {CgroupPath(silo)} meta mark set {MarkOf(silo)}");
        }
    }

    /// <summary>Drops every packet <paramref name="from"/> sends to <paramref name="to"/>.</summary>
    public Task CutAsync(SiloProcess from, SiloProcess to) =>
        NftAsync($"add rule inet {_table} in meta mark {MarkOf(from)} socket cgroupv2 level 1 {CgroupPath(to)} counter drop comment \"silo {from.Index} -> silo {to.Index}\"");

    /// <summary>Packets dropped so far by each cut in place, by its description ("silo 0 -> silo 1").</summary>
    public async Task<Dictionary<string, long>> DroppedAsync()
    {
        var (code, output, errors) = await RunAsync("nft", ["-j", "list", "chain", "inet", _table, "in"]);
        if (code != 0)
        {
            throw new InvalidOperationException($"nft list failed: {errors.Trim()}");
        }

        var dropped = new Dictionary<string, long>(StringComparer.Ordinal);
        using var json = JsonDocument.Parse(output);
        foreach (var item in json.RootElement.GetProperty("nftables").EnumerateArray())
        {
            if (!item.TryGetProperty("rule", out var rule))
            {
                continue;
            }

            var comment = rule.TryGetProperty("comment", out var c) ? c.GetString() ?? string.Empty : string.Empty;
            long packets = 0;
            foreach (var expression in rule.GetProperty("expr").EnumerateArray())
            {
                if (expression.TryGetProperty("counter", out var counter))
                {
                    packets = counter.GetProperty("packets").GetInt64();
                }
            }

            dropped[comment] = packets;
        }

        return dropped;
    }

    /// <summary>Lifts every cut; true when the chain holds no rule afterwards.</summary>
    public async Task<bool> HealAsync()
    {
        await NftAsync($"flush chain inet {_table} in");
        return (await DroppedAsync()).Count == 0;
    }

    public async ValueTask DisposeAsync()
    {
        await RunAsync("nft", ["delete", "table", "inet", _table]);
        foreach (var index in _cgroups)
        {
            try
            {
                Directory.Delete(Path.Combine(_cgroupMount, CgroupName(index)));
            }
            catch (IOException e)
            {
                // A process still in it (it is being killed): the kernel frees it with the last one.
                _log($"could not remove the cgroup of silo {index}: {e.Message}");
            }
        }
    }

    private static string CgroupName(SiloProcess silo) => CgroupName(silo.Index);

    /// <summary>The cgroup as nftables names it: quoted, relative to /sys/fs/cgroup.</summary>
    private string CgroupPath(SiloProcess silo) => $"\"{_cgroupPrefix}{CgroupName(silo)}\"";

    /// <summary>A mark of the silo's own (its number, in a range of the run's own).</summary>
    private static string MarkOf(SiloProcess silo) => $"0x{0x0ac00000 + silo.Index + 1:x8}";

    private static string CgroupName(int index) => $"actorcluster-chaos-{Environment.ProcessId}-silo-{index}";

    private static async Task NftAsync(string command)
    {
        var (code, _, errors) = await RunAsync("nft", [command]);
        if (code != 0)
        {
            throw new InvalidOperationException($"nft {command}: {errors.Trim()} (partitions cut packets with nftables, which needs root: apt-get install nftables)");
        }
    }

    internal static async Task<(int Code, string Output, string Errors)> RunAsync(string program, string[] arguments)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(info)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, await output, errors);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, string.Empty, e.Message);
        }
    }
}
