using System.Reflection;
using ActorCluster.Grains.Interfaces.Configuration;
using ActorCluster.Grains.Replicas;
using ActorCluster.Grains.Shards;
using ActorCluster.Grains.Storage;
using Microsoft.Extensions.Configuration;

namespace ActorCluster.Grains.Hosting;

/// <summary>
/// Finds settings under <c>ActorCluster:</c> that nothing reads: a misspelt key
/// (<c>ACTORCLUSTER_SILO__HTTPTOKN</c>) would otherwise be ignored without a word, and the silo
/// would run with the default it was meant to change (no token, say).
/// </summary>
public static class SettingsCheck
{
    /// <summary>The sections the silo binds, with the options type each binds to (the host adds its own).</summary>
    public static IReadOnlyDictionary<string, Type> SiloSections(Type siloSettings) => new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase)
    {
        [StorageOptions.Section] = typeof(StorageOptions),
        [RingOptions.Section] = typeof(RingOptions),
        [ReplicaOptions.Section] = typeof(ReplicaOptions),
        [ShardOptions.Section] = typeof(ShardOptions),
        [KeyValueOptions.Section] = typeof(KeyValueOptions),
        [TelemetryOptions.Section] = typeof(TelemetryOptions),
        [TlsSettings.Section] = typeof(TlsSettings),
        ["ActorCluster:Silo"] = siloSettings,
    };

    /// <summary>Keys read outside the option types, and sections that belong to other programs (the command line's).</summary>
    private static readonly string[] OtherKeys = ["ActorCluster:ClusterId", "ActorCluster:ServiceId"];
    private static readonly string[] OtherSections = ["ActorCluster:Client"];

    /// <summary>ACTORCLUSTER_* variables the programs and tests read by name, not as settings.</summary>
    public static readonly IReadOnlyList<string> ProcessVariables = ["CHECK_ARGS", "EXIT_WITH_PARENT", "TEST_DEBUG", "TEST_LOG", "TEST_POSTGRES", "CHROMIUM"];

    /// <summary>The keys under <c>ActorCluster:</c> in <paramref name="configuration"/> that no section's options have.</summary>
    public static IReadOnlyList<string> Unknown(IConfiguration configuration, IReadOnlyDictionary<string, Type> sections)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(sections);
        var unknown = new List<string>();
        foreach (var (key, _) in configuration.GetSection("ActorCluster").AsEnumerable())
        {
            if (OtherKeys.Contains(key, StringComparer.OrdinalIgnoreCase) || OtherSections.Any(s => key.StartsWith(s + ":", StringComparison.OrdinalIgnoreCase) || key.Equals(s, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            var parts = key.Split(':');
            if (configuration.GetSection(key).GetChildren().Any())
            {
                // A section: its leaves are looked at one by one.
                continue;
            }

            if (key.Equals("ActorCluster", StringComparison.OrdinalIgnoreCase) || (parts.Length == 2 && ProcessVariables.Contains(parts[1], StringComparer.OrdinalIgnoreCase)))
            {
                // The root, or a variable the programs read by name (ACTORCLUSTER_CHECK_ARGS, ...).
                continue;
            }

            var section = parts.Length >= 2 ? $"{parts[0]}:{parts[1]}" : key;
            if (parts.Length < 3 || !sections.TryGetValue(section, out var type) || !HasSetting(type, parts[2]))
            {
                unknown.Add(key);
            }
        }

        return unknown;
    }

    private static bool HasSetting(Type type, string name) =>
        type.GetProperty(name, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase) is { CanWrite: true } or { PropertyType.IsGenericType: true };
}
