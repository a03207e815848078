using ActorCluster.Grains.Interfaces.Ring;

namespace ActorCluster.Tests.Ring;

/// <summary>The shared key -> shard map: stable, uniform, wrap-around correct.</summary>
public sealed class KeyRingTests
{
    [Fact]
    public void The_hash_is_stable_across_processes_and_versions()
    {
        // Pinned: changing the hash would route existing keys to other shards.
        Assert.Equal(0x26C7827D889F6DA3UL, KeyRing.Hash("hello"));
        Assert.Equal(0xEF46DB3751D8E999UL, KeyRing.Hash(""));
        Assert.Equal(KeyRing.Hash("ключ"), KeyRing.Hash("ключ"));
    }

    [Fact]
    public void Keys_spread_evenly_over_shards()
    {
        var ring = KeyRing.Uniform(16);
        var counts = new int[16];
        for (var i = 0; i < 160_000; i++)
        {
            counts[ring.ShardOf($"key-{i:D8}")]++;
        }

        Assert.All(counts, c => Assert.InRange(c, 9_000, 11_000));
    }

    [Fact]
    public void Uniform_arcs_start_at_equal_steps_and_cover_the_whole_ring()
    {
        var ring = KeyRing.Uniform(4);
        Assert.Equal(4, ring.ShardCount);
        Assert.Equal(0, ring.ShardAt(0));
        Assert.Equal(0, ring.ShardAt((1UL << 62) - 1));
        Assert.Equal(1, ring.ShardAt(1UL << 62));
        Assert.Equal(2, ring.ShardAt(1UL << 63));
        Assert.Equal(3, ring.ShardAt(ulong.MaxValue));
    }

    [Fact]
    public void Positions_below_the_first_arc_wrap_to_the_last_arc()
    {
        var ring = KeyRing.FromArcs([1000, 5000, 9000], [7, 8, 9], epoch: 2);
        Assert.Equal(9, ring.ShardAt(999));
        Assert.Equal(9, ring.ShardAt(0));
        Assert.Equal(7, ring.ShardAt(1000));
        Assert.Equal(7, ring.ShardAt(4999));
        Assert.Equal(8, ring.ShardAt(5000));
        Assert.Equal(9, ring.ShardAt(ulong.MaxValue));
        Assert.Equal(2, ring.Epoch);
    }

    [Fact]
    public void The_arc_of_a_position_is_where_it_starts_where_the_next_starts_and_its_owner()
    {
        var uniform = KeyRing.Uniform(4);
        Assert.Equal((0UL, (UInt128)(1UL << 62), 0), uniform.ArcAt(12345));
        Assert.Equal((1UL << 63, (UInt128)(3UL << 62), 2), uniform.ArcAt(1UL << 63));
        // The last arc ends at 2^64.
        Assert.Equal((3UL << 62, (UInt128)ulong.MaxValue + 1, 3), uniform.ArcAt(ulong.MaxValue));

        // Below the first start, the last arc, wrapping past 2^64 to the first start.
        var wrapped = KeyRing.FromArcs([1000, 5000, 9000], [7, 8, 9], epoch: 2);
        Assert.Equal((9000UL, (UInt128)ulong.MaxValue + 1 + 1000, 9), wrapped.ArcAt(999));
        Assert.Equal((1000UL, (UInt128)5000, 7), wrapped.ArcAt(4999));
        foreach (var position in new ulong[] { 0, 999, 1000, 4999, 5000, 9000, ulong.MaxValue })
        {
            Assert.Equal(wrapped.ShardAt(position), wrapped.ArcAt(position).Shard);
        }
    }

    [Fact]
    public void Arcs_must_be_sorted_distinct_and_owned()
    {
        Assert.Throws<ArgumentException>(() => KeyRing.FromArcs([5, 1], [0, 1], 1));
        Assert.Throws<ArgumentException>(() => KeyRing.FromArcs([1, 1], [0, 1], 1));
        Assert.Throws<ArgumentException>(() => KeyRing.FromArcs([1, 2], [0], 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => KeyRing.Uniform(0));
    }
}
