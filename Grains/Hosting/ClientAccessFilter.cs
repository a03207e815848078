using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ActorCluster.Grains.Hosting;

/// <summary>
/// Refuses every call from an application's client to a method <see cref="ClientAccess"/> does not
/// list, on every grain and system target the silo hosts: a client cannot forge Raft traffic,
/// steer leadership, report a group's members, register a store or fake a store's pulse.
/// </summary>
/// <remarks>
/// A grain call filter sees the source the message names, not the connection it came on. That
/// source can be trusted because of <see cref="GatewaySourceCheck"/>, which closes any gateway
/// connection whose messages claim to come from anything but the client that connected, and
/// because the silo port, where silos connect, takes only the silos' certificate when TLS is on.
/// </remarks>
public sealed partial class ClientAccessFilter(IOptions<ClientAccessOptions> options, ILogger<ClientAccessFilter> logger) : IIncomingGrainCallFilter
{
    private readonly ISet<string> _openInterfaces = options.Value.OpenInterfaces;

    private long _refused;

    /// <summary>Calls refused so far.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    public Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!ClientAccess.IsApplicationClient(context.SourceId) || ClientAccess.Allows(context.InterfaceMethod)
            || (_openInterfaces.Count > 0 && context.InterfaceMethod?.DeclaringType?.FullName is { } name && _openInterfaces.Contains(name)))
        {
            return context.Invoke();
        }

        Interlocked.Increment(ref _refused);
        var method = $"{context.InterfaceMethod?.DeclaringType?.Name ?? context.InterfaceName}.{context.MethodName}";
        var caller = context.SourceId?.ToString() ?? "an unknown caller";
        LogRefused(method, context.TargetId.ToString(), caller);
        throw new UnauthorizedAccessException($"{method} is open to silos of the cluster only; the call from client {caller} was refused.");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused {Method} on {Target} from {Caller}: open to silos only")]
    private partial void LogRefused(string method, string target, string caller);
}
