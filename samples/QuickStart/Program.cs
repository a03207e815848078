using System.Text;
using ActorCluster.Client;

// Connects to the development cluster (`dotnet run --project Silo`), or to the gateways given as
// arguments (host:port ...), writes, reads, swaps, and shows what each error means.
var options = new ActorClusterClientOptions();
foreach (var gateway in args)
{
    options.Gateways.Add(gateway);
}

ActorClusterClient client;
try
{
    client = await ActorClusterClient.ConnectAsync(options);
}
catch (ClusterUnavailableException e)
{
    Console.Error.WriteLine($"No cluster to talk to: {e.Message}");
    return 1;
}

await using (client)
{
    var key = $"quickstart-{Environment.ProcessId}";
    var version = await client.PutAsync(key, Encoding.UTF8.GetBytes("hello"));
    Console.WriteLine($"put {key} = hello (version {version})");

    // Reads are linearizable by default: they see every write acknowledged before them.
    var entry = await client.GetAsync(key) ?? throw new InvalidOperationException($"{key} was just written");
    Console.WriteLine($"get {key} = {Encoding.UTF8.GetString(entry.Value)} (version {entry.Version})");

    // Compare-and-swap: change the value only if nobody else changed it since it was read.
    var swapped = await client.CompareAndSwapAsync(key, entry.Version, Encoding.UTF8.GetBytes("hello again"));
    Console.WriteLine(swapped.Succeeded ? $"swapped at version {swapped.Version}" : $"someone else wrote first (now version {swapped.Version})");
    var stale = await client.CompareAndSwapAsync(key, entry.Version, Encoding.UTF8.GetBytes("lost update"));
    Console.WriteLine($"a swap against the old version fails: succeeded={stale.Succeeded}, current version {stale.Version}");

    // Bad input is refused before it is sent, with a typed error; nothing is written.
    try
    {
        await client.PutAsync(string.Empty, [1]);
    }
    catch (InvalidKeyException e)
    {
        Console.WriteLine($"refused: {e.Message}");
    }

    try
    {
        await client.PutAsync(key, new byte[2 * 1024 * 1024]);
    }
    catch (ValueTooLargeException e)
    {
        Console.WriteLine($"refused: {e.Message}");
    }

    // A write whose outcome is unknown (a timeout after it was sent, a session lost after a retry)
    // may or may not have been applied: read the key before deciding to write it again.
    try
    {
        await client.PutAsync(key, Encoding.UTF8.GetBytes("one more"));
    }
    catch (ActorClusterException e) when (e.OutcomeUnknown)
    {
        Console.WriteLine($"unknown outcome ({e.Message}); reading {key} says: {(await client.GetAsync(key))?.Version}");
    }
    catch (ClusterUnavailableException e)
    {
        Console.WriteLine($"not applied, the shard is unavailable: {e.Message}");
    }

    Console.WriteLine(await client.DeleteAsync(key) ? $"deleted {key}" : $"{key} was already gone");
}

return 0;
