using System.Diagnostics;
using ActorCluster.Grains.Raft;
using ActorCluster.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace ActorCluster.Tests.Storage;

/// <summary>
/// A store whose disk runs short of space refuses writes (typed, nothing of them stored) and takes
/// them again once space returns: with a stand-in for the file system, and on a real, size-limited
/// tmpfs filled up by another file.
/// </summary>
public sealed class DiskReserveTests
{
    [Fact]
    public async Task Writes_are_refused_while_free_space_is_below_the_reserve_and_taken_again_once_it_returns()
    {
        var options = await StorageFixture.FreshAsync(StorageProvider.Sqlite);
        options.MinFreeBytes = 1 << 20;
        long free = 100L << 20;
        await using var store = await AdoReplicaStore.OpenAsync(options, faults: null, freeBytes: _ => Interlocked.Read(ref free));
        var id = StorageFixture.UniqueReplica("0/1");
        var claim = await store.ClaimAsync(id);
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(1, 0, 0), Entries(1, 1, 1)));

        Interlocked.Exchange(ref free, 1000);
        // The file system is asked at most every 100 ms.
        await Task.Delay(150);
        var refused = await Assert.ThrowsAsync<StoreFullException>(() => store.SaveAsync(claim, new ReplicaWrite(new HardState(2, 0, 0), Entries(3, 2))));
        Assert.Contains("1,000 bytes free", refused.Message, StringComparison.Ordinal);
        Assert.Contains("MinFreeBytes", refused.Message, StringComparison.Ordinal);
        var status = store.WriteStatus();
        Assert.True(status.WritesRefused >= 1);
        Assert.Equal(1000, status.FreeBytes);
        Assert.Equal(1 << 20, status.MinFreeBytes);
        Assert.Equal(refused.Message, status.LastWriteError);

        // The store's incarnation, which a silo raises to start and to stay in the cluster, is one
        // row: it may use the reserve (a silo on a disk short of space once could not start).
        await store.RaiseIncarnationAsync(5);
        Assert.Equal(5, await store.ReadIncarnationAsync());

        // Nothing of a refused write was stored.
        var state = await store.LoadAsync(claim);
        Assert.Equal(1UL, state.HardState.Term);
        Assert.Equal([1UL, 2UL], state.Entries.Select(e => e.Index));

        Interlocked.Exchange(ref free, 100L << 20);
        await Task.Delay(150);
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(2, 0, 0), Entries(3, 2)));
        Assert.Equal([1UL, 2UL, 3UL], (await store.LoadAsync(claim)).Entries.Select(e => e.Index));
        Assert.True(store.WriteStatus().Transactions > 0);
    }

    [Fact]
    public async Task A_file_system_that_cannot_say_its_free_space_refuses_nothing_and_reports_it_unknown()
    {
        // The status once reported 9,223,372,036,854,775,807 bytes free.
        var options = await StorageFixture.FreshAsync(StorageProvider.Sqlite);
        options.MinFreeBytes = 1 << 20;
        await using var store = await AdoReplicaStore.OpenAsync(options, faults: null, freeBytes: _ => throw new IOException("statfs failed"));
        var claim = await store.ClaimAsync(StorageFixture.UniqueReplica("0/1"));
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(1, 0, 0), Entries(1, 1, 1)));
        var status = store.WriteStatus();
        Assert.Null(status.FreeBytes);
        Assert.Equal(0, status.WritesRefused);
        Assert.Equal([1UL, 2UL], (await store.LoadAsync(claim)).Entries.Select(e => e.Index));
    }

    [Fact]
    public void The_refusal_crosses_silos_as_itself()
    {
        // A remote caller once got Orleans' CodecNotFoundException instead of the refusal.
        using var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection()
            .AddSerializer(builder => builder.AddAssembly(typeof(StoreFullException).Assembly))
            .BuildServiceProvider();
        var serializer = services.GetRequiredService<Orleans.Serialization.Serializer>();
        var copy = serializer.Deserialize<Exception>(serializer.SerializeToArray<Exception>(new StoreFullException("the disk has 10 bytes free")));
        Assert.IsType<StoreFullException>(copy);
        Assert.Equal("the disk has 10 bytes free", copy.Message);
    }

    [Fact]
    public async Task A_reserve_of_zero_never_asks_the_file_system()
    {
        var options = await StorageFixture.FreshAsync(StorageProvider.Sqlite);
        options.MinFreeBytes = 0;
        var asked = 0;
        await using var store = await AdoReplicaStore.OpenAsync(options, faults: null, freeBytes: _ =>
        {
            Interlocked.Increment(ref asked);
            return 0;
        });
        var claim = await store.ClaimAsync(StorageFixture.UniqueReplica("0/1"));
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(1, 0, 0), Entries(1, 1)));
        Assert.Equal(0, asked);
        Assert.Null(store.WriteStatus().FreeBytes);
    }

    [Fact]
    public void A_negative_reserve_is_refused_by_name()
    {
        var options = new StorageOptions { MinFreeBytes = -1 };
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("MinFreeBytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_real_disk_that_fills_up_refuses_writes_and_takes_them_again_when_space_returns()
    {
        // A 32 MiB tmpfs (mounting one needs root, as the CI and the chaos runs have) with the store
        // in a directory below the mount point, as a silo's data directory would be.
        Assert.True(Environment.UserName == "root", "this test mounts a tmpfs, which needs root");
        var mount = Path.Combine(Path.GetTempPath(), "actorcluster-tests", "disk-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(mount);
        await RunAsync("mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", mount);
        try
        {
            var options = new StorageOptions { Provider = StorageProvider.Sqlite, DataDirectory = Path.Combine(mount, "silo"), MinFreeBytes = 8 << 20 };
            await using (var store = await AdoReplicaStore.OpenAsync(options, faults: null))
            {
                var claim = await store.ClaimAsync(StorageFixture.UniqueReplica("0/1"));
                await store.SaveAsync(claim, new ReplicaWrite(new HardState(1, 0, 0), Entries(1, 1)));
                Assert.InRange(store.WriteStatus().FreeBytes!.Value, 8L << 20, 32L << 20);

                // Another file takes the space, leaving 4 MiB: less than the reserve.
                var filler = Path.Combine(mount, "filler");
                await FillAsync(filler, new DriveInfo(mount).AvailableFreeSpace - (4 << 20));
                await Task.Delay(150);
                var refused = await Assert.ThrowsAsync<StoreFullException>(() => store.SaveAsync(claim, new ReplicaWrite(new HardState(2, 0, 0), Entries(2, 2))));
                Assert.Contains("bytes free", refused.Message, StringComparison.Ordinal);
                Assert.True(store.WriteStatus().FreeBytes < 8L << 20);

                File.Delete(filler);
                await Task.Delay(150);
                await store.SaveAsync(claim, new ReplicaWrite(new HardState(2, 0, 0), Entries(2, 2)));
                Assert.Equal([1UL, 2UL], (await store.LoadAsync(claim)).Entries.Select(e => e.Index));
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        }
        finally
        {
            await RunAsync("umount", "-l", mount);
        }
    }

    private static async Task FillAsync(string path, long bytes)
    {
        // Real data: tmpfs keeps sparse files sparse.
        var chunk = new byte[1 << 20];
        Array.Fill(chunk, (byte)0x5a);
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        for (long written = 0; written < bytes; written += chunk.Length)
        {
            await file.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, bytes - written)));
        }
    }

    private static async Task RunAsync(string program, params string[] arguments)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)}: exit {process.ExitCode}: {errors}");
    }

    private static Entry[] Entries(ulong first, params ulong[] terms) =>
        [.. terms.Select((t, i) => new Entry(first + (ulong)i, t, EntryType.Normal, [(byte)(first + (ulong)i)]))];
}
