using ActorCluster.Grains.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Serialization;

namespace ActorCluster.Tests.Cluster;

public sealed class RemoteErrorTests
{
    [Fact]
    public void Orleans_alone_cannot_send_a_database_error_back_to_the_caller()
    {
        // What a chaos run hit: the ring grain's activation read PostgreSQL, failed, and its caller
        // got a codec error in place of the database's message.
        using var services = new ServiceCollection().AddSerializer().BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        Assert.Throws<CodecNotFoundException>(() => serializer.SerializeToArray<Exception>(new NpgsqlException("the pool is exhausted")));
    }

    [Fact]
    public void A_silo_sends_a_database_error_with_its_message_and_a_caller_without_npgsql_reads_it()
    {
        using var silo = new ServiceCollection().AddSerializer().AdmitDatabaseErrors().BuildServiceProvider();
        var siloSerializer = silo.GetRequiredService<Serializer>();
        var failure = new InvalidOperationException("reading the ring failed", new NpgsqlException("the pool is exhausted"));
        var bytes = siloSerializer.SerializeToArray<Exception>(failure);
        var copy = siloSerializer.Deserialize<Exception>(bytes)!;
        Assert.Equal("reading the ring failed", copy.Message);
        var inner = Assert.IsType<NpgsqlException>(copy.InnerException);
        Assert.Equal("the pool is exhausted", inner.Message);

        var top = siloSerializer.Deserialize<Exception>(siloSerializer.SerializeToArray<Exception>(new NpgsqlException("the pool is exhausted")));
        Assert.IsType<NpgsqlException>(top);

        // An application's client admits only Orleans' defaults: it gets the fallback, message kept.
        using var client = new ServiceCollection().AddSerializer().BuildServiceProvider();
        var read = client.GetRequiredService<Serializer>().Deserialize<Exception>(siloSerializer.SerializeToArray<Exception>(new NpgsqlException("the pool is exhausted")))!;
        Assert.Contains("the pool is exhausted", read.Message, StringComparison.Ordinal);
    }
}
