namespace ActorCluster.Cli;

/// <summary>Clients that find gateways in the silos' PostgreSQL membership table, as a deployment's would.</summary>
internal static class PostgresMembership
{
    /// <summary>Configures an Orleans client to read gateways from the membership table at <paramref name="connectionString"/>.</summary>
    public static Action<IClientBuilder> Clustering(string connectionString) =>
        client => client.UseAdoNetClustering(o =>
        {
            o.Invariant = "Npgsql";
            o.ConnectionString = connectionString;
        });
}
