using ActorCluster.Grains.Hosting;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Replicas;
using ActorCluster.Tests.Cluster;
using Microsoft.Extensions.DependencyInjection;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Security;

/// <summary>
/// A gateway connection speaks for its client only: a client that rewrites the sender of its
/// messages to a grain's id, or to a silo's hosted client, to pass for a silo is cut off before
/// Orleans reads the message, and what it sent does not happen.
/// </summary>
public sealed class GatewaySourceTests
{
    [Fact]
    public async Task A_client_that_claims_to_be_a_grain_or_a_silo_is_cut_off_and_changes_nothing()
    {
        // The test cluster's own client reaches the silos through their gateways, with the forgery
        // on its connections (idle until a sender is set).
        var forgery = new SenderForgery();
        await using var test = await TestCluster.StartAsync(shards: 1, configureClient: forgery.AddTo);
        await test.Client.PutAsync("k", [1]);
        var status = await StatusOf(test.Client, 0);
        var silo = test.Cluster.Silos[0];
        var siloGrains = silo.ServiceProvider.GetRequiredService<IGrainFactory>();
        var replicaId = siloGrains.GetGrain<IRaftReplicaGrain>(TestCluster.KeyOf(status.Replicas[0])).GetGrainId();
        var hostedClient = GrainId.Create("sys.client", $"{ClientAccess.HostedClientPrefix}{silo.SiloAddress.ToParsableString()}");
        var ring = test.Cluster.Client.GetGrain<IRingGrain>(IRingGrain.DefaultKey);
        var before = await ring.GetMembers(0);
        Assert.NotNull(before);
        var forged = before with { ConfigIndex = ulong.MaxValue };

        // As itself, the client reaches the ring's queries, and not its writes.
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => ring.ReportMembers(0, forged));

        foreach (var sender in new[] { replicaId, hostedClient })
        {
            forgery.Sender = sender;
            var outcome = await Record.ExceptionAsync(() => ring.ReportMembers(0, forged).WaitAsync(TimeSpan.FromSeconds(5)));
            forgery.Sender = null;
            Assert.NotNull(outcome);
            Assert.IsNotType<UnauthorizedAccessException>(outcome);
        }

        // A response is never the client's to send: one could answer a call a silo waits on.
        forgery.AsResponse = true;
        Assert.NotNull(await Record.ExceptionAsync(() => ring.GetRing().WaitAsync(TimeSpan.FromSeconds(5))));
        forgery.AsResponse = false;

        // Nor a grain named by its bytes and a hash that is not theirs: Orleans would activate the
        // grain a second time (a replica's second activation fences the first off its store).
        forgery.WrongTargetHash = true;
        Assert.NotNull(await Record.ExceptionAsync(() => ring.GetRing().WaitAsync(TimeSpan.FromSeconds(5))));
        forgery.WrongTargetHash = false;

        Assert.True(forgery.Forged >= 4, $"forged {forgery.Forged} messages");
        var refused = test.Cluster.Silos.Sum(s => s.ServiceProvider.GetRequiredService<GatewaySourceCheck>().Refused);
        Assert.True(refused >= 4, $"{refused} gateway connections closed");

        // Nothing the forged calls carried took effect: every silo's ring keeps the group's real
        // configuration. And the client, as itself again, still works.
        foreach (var s in test.Cluster.Silos)
        {
            var members = await s.ServiceProvider.GetRequiredService<IGrainFactory>().GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetMembers(0);
            Assert.Equal(before.ConfigIndex, members!.ConfigIndex);
        }

        await EventuallyAsync(async () => (await test.Client.GetAsync("k"))?.Value is [1], TimeSpan.FromSeconds(30), "the client reconnects and reads");
    }
}
