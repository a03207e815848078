using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace ActorCluster.Grains.Hosting;

/// <summary>
/// Lets errors from the metadata database cross grain calls. Orleans serializes an exception only
/// when its namespace is admitted (System, Microsoft and Azure by default); Npgsql's are not, so a
/// grain whose PostgreSQL read failed (the ring's record, at activation) could not answer its caller
/// at all: the silo failed to write the response, and the caller got Orleans' codec error instead of
/// the database's message. Admitted, the exception travels with its message; a caller without
/// Npgsql (an application's client) reads it as Orleans' fallback exception, message included.
/// </summary>
public static class RemoteErrors
{
    /// <summary>The namespaces admitted besides Orleans' own defaults.</summary>
    public static readonly IReadOnlyList<string> AdmittedNamespaces = ["Npgsql"];

    /// <summary>Admits <see cref="AdmittedNamespaces"/> to exception serialization.</summary>
    public static IServiceCollection AdmitDatabaseErrors(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.Configure<ExceptionSerializationOptions>(options =>
        {
            foreach (var prefix in AdmittedNamespaces)
            {
                options.SupportedNamespacePrefixes.Add(prefix);
            }
        });
    }
}
