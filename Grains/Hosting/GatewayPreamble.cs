namespace ActorCluster.Grains.Hosting;

/// <summary>
/// What <see cref="GatewaySourceCheck"/> reads of the preamble an Orleans client sends when it
/// connects: the identity it connects as. Orleans' own preamble type is internal to it; this reads
/// the same serialized form by field id, and skips the fields it does not name (the protocol
/// version, the silo address, the cluster id).
/// </summary>
[GenerateSerializer, Alias("ac.GatewayPreamble")]
internal sealed class GatewayPreamble
{
    [Id(1)]
    public GrainId NodeIdentity { get; set; }
}
