using ActorCluster.Grains.Raft;

namespace ActorCluster.Tests.Raft;

/// <summary>Configurations, their binary form, options validation and the seeded generator.</summary>
public sealed class RaftTypesTests
{
    [Fact]
    public void A_configuration_entry_round_trips_through_its_binary_form()
    {
        var entry = new ConfChangeEntry(new ConfChange(ConfChangeType.AddVoter, 7), new ClusterConfig([1, 2, 7], [9]));
        var decoded = ConfChangeEntry.Decode(entry.Encode());
        Assert.Equal(entry.Change, decoded.Change);
        Assert.Equal(entry.Config, decoded.Config);
    }

    [Fact]
    public void A_configuration_keeps_each_members_store_and_the_next_id_through_changes_and_encoding()
    {
        var founders = new ClusterConfig([1, 2, 3], [], new Dictionary<ulong, ulong> { [1] = 0xA, [2] = 0xB, [3] = 0xC });
        Assert.Equal(4UL, founders.NextId);
        var joined = founders.Apply(new ConfChange(ConfChangeType.AddLearner, 4, 0xD));
        Assert.Equal(0xDUL, joined.StoreOf(4));
        Assert.Equal(5UL, joined.NextId);
        var promoted = joined.Apply(new ConfChange(ConfChangeType.AddVoter, 4));
        Assert.Equal(0xDUL, promoted.StoreOf(4));
        var removed = promoted.Apply(new ConfChange(ConfChangeType.RemoveNode, 2));
        Assert.Equal(0UL, removed.StoreOf(2));
        Assert.True(removed.IsRemoved(2));
        Assert.False(removed.IsRemoved(4));
        Assert.False(removed.IsRemoved(5));
        Assert.Equal(5UL, removed.NextId);

        var entry = new ConfChangeEntry(new ConfChange(ConfChangeType.RemoveNode, 2), removed);
        var decoded = ConfChangeEntry.Decode(entry.Encode());
        Assert.Equal(entry.Change, decoded.Change);
        Assert.Equal(removed, decoded.Config);
        Assert.Equal(0xAUL, decoded.Config.StoreOf(1));
        Assert.Equal(5UL, decoded.Config.NextId);
        // Equal members on other stores are another configuration.
        Assert.NotEqual(founders, new ClusterConfig([1, 2, 3], [], new Dictionary<ulong, ulong> { [1] = 0xA, [2] = 0xB, [3] = 0xE }));
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })]
    [InlineData(new byte[] { 1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })]
    [InlineData(new byte[] { 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0 })]
    public void Malformed_configuration_bytes_are_a_format_error(byte[] data)
    {
        Assert.Throws<FormatException>(() => ConfChangeEntry.Decode(data));
    }

    [Fact]
    public void A_configuration_rejects_the_reserved_id_and_overlapping_roles()
    {
        Assert.Throws<ArgumentException>(() => ClusterConfig.OfVoters(0, 1));
        Assert.Throws<ArgumentException>(() => new ClusterConfig([1, 2], [2]));
    }

    [Fact]
    public void Configurations_are_sorted_and_compare_by_members()
    {
        var a = new ClusterConfig([3, 1, 2], [5, 4]);
        var b = new ClusterConfig([1, 2, 3, 3], [4, 5]);
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.Equal([1UL, 2UL, 3UL], a.Voters);
        Assert.Equal(2, a.Quorum);
        Assert.Equal(3, ClusterConfig.OfVoters(1, 2, 3, 4).Quorum);
    }

    [Theory]
    [InlineData(0UL, 10, 1, "Id")]
    [InlineData(1UL, 1, 1, "ElectionTicks")]
    [InlineData(1UL, 10, 0, "HeartbeatTicks")]
    public void Invalid_options_are_refused_naming_the_setting(ulong id, int election, int heartbeat, string setting)
    {
        var options = new RaftOptions { Id = id, ElectionTicks = election, HeartbeatTicks = heartbeat };
        var error = Assert.Throws<ArgumentException>(() => RaftNode.Bootstrap(options, ClusterConfig.OfVoters(1)));
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_seeded_generator_repeats_its_sequence_and_stays_in_range()
    {
        var a = new SeededRandom(42);
        var b = new SeededRandom(42);
        for (var i = 0; i < 1000; i++)
        {
            var value = a.Next(7);
            Assert.Equal(value, b.Next(7));
            Assert.InRange(value, 0, 6);
        }

        Assert.NotEqual(new SeededRandom(1).NextUInt64(), new SeededRandom(2).NextUInt64());
    }
}
