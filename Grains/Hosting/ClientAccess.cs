using System.Reflection;
using ActorCluster.Grains.Interfaces;

namespace ActorCluster.Grains.Hosting;

/// <summary>
/// What an application connected to a gateway may call: the shard router's operations and status,
/// and the ring's read-only queries; and, of Orleans' own services, what an Orleans client needs to
/// connect (the cluster manifest). Everything else a silo hosts — replicas, the ring's writes,
/// store pulses, Orleans' management grain and system targets, the dashboard's grains — answers
/// only calls from silos. The list is by method, so a method added to an open interface stays
/// closed until it is listed here.
/// </summary>
public static class ClientAccess
{
    private static readonly HashSet<(Type Interface, string Method)> OwnMethods =
    [
        (typeof(IShardGrain), nameof(IShardGrain.Write)),
        (typeof(IShardGrain), nameof(IShardGrain.Read)),
        (typeof(IShardGrain), nameof(IShardGrain.Execute)),
        (typeof(IShardGrain), nameof(IShardGrain.GetStatus)),
        (typeof(IRingGrain), nameof(IRingGrain.GetRing)),
        (typeof(IRingGrain), nameof(IRingGrain.GetFounders)),
        (typeof(IRingGrain), nameof(IRingGrain.GetMembers)),
        (typeof(IRingGrain), nameof(IRingGrain.GetAllMembers)),
        (typeof(IRingGrain), nameof(IRingGrain.GetStores)),
        (typeof(IRingGrain), nameof(IRingGrain.GetStatus)),
    ];

    // Orleans' own interfaces are internal to it: named, not referenced. An Orleans client asks a
    // gateway for the cluster's manifest (which grain types and interfaces exist) when it connects
    // and whenever it changes.
    private static readonly HashSet<(string Interface, string Method)> OrleansMethods =
    [
        ("Orleans.Runtime.IClusterManifestSystemTarget", "GetClusterManifest"),
        ("Orleans.Runtime.IClusterManifestSystemTarget", "GetClusterManifestUpdate"),
    ];

    /// <summary>Whether a client may call <paramref name="interfaceMethod"/> (a method of a grain or system-target interface).</summary>
    public static bool Allows(MethodInfo? interfaceMethod)
    {
        if (interfaceMethod?.DeclaringType is not { } declaring)
        {
            return false;
        }

        return OwnMethods.Contains((declaring, interfaceMethod.Name))
            || (declaring.Assembly != typeof(IShardGrain).Assembly && OrleansMethods.Contains((declaring.FullName ?? string.Empty, interfaceMethod.Name)) && IsOrleans(declaring));
    }

    private static bool IsOrleans(Type type) => type.Assembly.GetName().Name is { } name && name.StartsWith("Orleans.", StringComparison.Ordinal);

    /// <summary>
    /// Whether <paramref name="source"/> is an application's client: a client id that is not a
    /// silo's own hosted client (code on a silo that runs outside any grain). Grains, system
    /// targets and hosted clients are silos. A gateway never forwards a message that claims any
    /// of those (<see cref="GatewaySourceCheck"/>), so on a silo this tells clients from silos.
    /// </summary>
    public static bool IsApplicationClient(GrainId? source) =>
        source is { } id && id.IsClient() && !id.Key.ToString().StartsWith(HostedClientPrefix, StringComparison.Ordinal);

    /// <summary>How Orleans names a silo's hosted client: <c>hosted-{silo}</c>.</summary>
    internal const string HostedClientPrefix = "hosted-";
}

/// <summary>
/// Interfaces a silo opens to clients beyond <see cref="ClientAccess"/>'s list, by full name. Empty
/// in every silo ActorCluster ships; a test harness opens its own hooks here (Orleans' test
/// cluster asks its silos, through their gateways, which silos are up).
/// </summary>
public sealed class ClientAccessOptions
{
    /// <summary>Full names of interfaces whose every method clients may call.</summary>
    public ISet<string> OpenInterfaces { get; } = new HashSet<string>(StringComparer.Ordinal);
}
