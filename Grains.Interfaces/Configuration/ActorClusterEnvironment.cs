using System.Collections;
using Microsoft.Extensions.Configuration;

namespace ActorCluster.Grains.Interfaces.Configuration;

/// <summary>
/// Environment variables for the <c>ActorCluster</c> configuration section, the way container
/// platforms set them: <c>ACTORCLUSTER_STORAGE__PROVIDER=PostgreSql</c> sets
/// <c>ActorCluster:Storage:Provider</c> (double underscores separate sections, case does not matter).
/// </summary>
public static class ActorClusterEnvironment
{
    public const string Prefix = "ACTORCLUSTER_";

    /// <summary>Adds every <c>ACTORCLUSTER_*</c> variable under the <c>ActorCluster</c> section.</summary>
    public static IConfigurationBuilder AddActorClusterEnvironment(this IConfigurationBuilder builder, IDictionary? variables = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (DictionaryEntry variable in variables ?? Environment.GetEnvironmentVariables())
        {
            // ACTORCLUSTER__SILO__X is .NET's own double-underscore form, which the plain
            // environment provider already maps: not a second, underscore-led key here.
            if (variable.Key is string name && name.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) && name.Length > Prefix.Length && name[Prefix.Length] != '_')
            {
                settings["ActorCluster:" + name[Prefix.Length..].Replace("__", ":", StringComparison.Ordinal)] = variable.Value as string;
            }
        }

        return builder.AddInMemoryCollection(settings);
    }
}
