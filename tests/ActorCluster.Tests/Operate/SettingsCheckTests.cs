using ActorCluster.Grains.Hosting;
using ActorCluster.Grains.Storage;
using ActorCluster.Grains.Interfaces.Configuration;
using Microsoft.Extensions.Configuration;

namespace ActorCluster.Tests.Operate;

public sealed class SettingsCheckTests
{
    private sealed class HostSettings
    {
        public string? HttpToken { get; set; }

        public int HttpPort { get; set; }

        public string? Name { get; set; }
    }

    private static IReadOnlyList<string> Unknown(params (string Key, string? Value)[] settings) =>
        SettingsCheck.Unknown(new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build(), SettingsCheck.SiloSections(typeof(HostSettings)));

    [Fact]
    public void Every_setting_the_silo_reads_is_known_whatever_its_case()
    {
        Assert.Empty(Unknown(
            ("ActorCluster:ClusterId", "c"), ("ActorCluster:Silo:HttpToken", "t"), ("ACTORCLUSTER:SILO:HTTPPORT", "1"),
            ($"{StorageOptions.Section}:DataDirectory", "d"), ("ActorCluster:Raft:MaxClockRateRatio", "2"), ("ActorCluster:Tls:CertificatePath", "p"),
            ("ActorCluster:Ring:Shards", "8"), ("ActorCluster:Client:Gateways:0", "localhost:30000"), ("Orleans:ClusterMembership:ProbeTimeout", "00:00:10"), ("ActorCluster:CHECK_ARGS", "1")));
    }

    [Fact]
    public void A_misspelt_key_or_section_is_named()
    {
        Assert.Equal(["ActorCluster:Silo:HttpTokn"], Unknown(("ActorCluster:Silo:HttpTokn", "t")));
        Assert.Equal(["ActorCluster:Stroage:DataDirectory"], Unknown(("ActorCluster:Stroage:DataDirectory", "d")));
        Assert.Equal(["ActorCluster:Shards"], Unknown(("ActorCluster:Shards", "8")));
        // One underscore where two belong: ACTORCLUSTER_TLS_CERTIFICATEPATH.
        Assert.Equal(["ActorCluster:TLS_CERTIFICATEPATH"], Unknown(("ActorCluster:TLS_CERTIFICATEPATH", "/etc/cluster.pfx")));
    }

    [Fact]
    public void The_dotnet_double_underscore_form_of_a_variable_is_not_read_twice()
    {
        var configuration = new ConfigurationBuilder()
            .AddActorClusterEnvironment(new System.Collections.Hashtable { ["ACTORCLUSTER__SILO__HTTPTOKEN"] = "t", ["ActorCluster__Storage__Provider"] = "Sqlite", ["ACTORCLUSTER_SILO__NAME"] = "east" })
            .Build();
        Assert.Empty(SettingsCheck.Unknown(configuration, SettingsCheck.SiloSections(typeof(HostSettings))));
        Assert.Equal("east", configuration["ActorCluster:Silo:Name"]);
    }
}
