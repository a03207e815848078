using System.Globalization;

namespace ActorCluster.Grains.Storage;

/// <summary>
/// One process at a time holds a data directory: an exclusive lock on its <c>LOCK</c> file, held
/// while the store is open and released when the process ends, however it ends. Two silos on one
/// store would both answer for its replicas (heartbeats, votes, reads under a lease), and fencing
/// guards only writes. The holder writes who it is (process id, host, since when) into
/// <c>LOCK.holder</c> beside it, for whoever is refused (the locked file itself cannot be read by
/// another .NET process).
/// </summary>
/// <remarks>
/// .NET takes the lock with <c>flock</c> on Linux (an exclusive open, <see cref="FileShare.None"/>),
/// which other .NET processes and other opens in the same process respect. Setting
/// <c>DOTNET_SYSTEM_IO_DISABLEFILELOCKING</c> turns it off, and with it this protection.
/// </remarks>
public sealed class DataDirectoryLock : IDisposable
{
    /// <summary>The lock file's name in the data directory.</summary>
    public const string FileName = "LOCK";

    /// <summary>The file that names the holder.</summary>
    public const string HolderFileName = "LOCK.holder";

    private readonly FileStream _file;

    private DataDirectoryLock(FileStream file, string directory)
    {
        _file = file;
        Directory = directory;
    }

    /// <summary>The directory held.</summary>
    public string Directory { get; }

    /// <summary>Takes the lock on <paramref name="directory"/> (creating it if need be).</summary>
    /// <exception cref="StoreLockedException">Another process, or another store in this one, holds it.</exception>
    public static DataDirectoryLock Acquire(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var full = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(full);
        var path = Path.Combine(full, FileName);
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            var holder = Holder(Path.Combine(full, HolderFileName));
            throw new StoreLockedException(
                $"data directory {full} is in use by {holder ?? "another process"} (it holds {path}). Two silos must never share a store: give each its own data directory, or stop the other first.",
                e);
        }

        try
        {
            File.WriteAllText(Path.Combine(full, HolderFileName), string.Create(CultureInfo.InvariantCulture, $"process {Environment.ProcessId} on {Environment.MachineName} since {DateTime.UtcNow:O}\n"));
        }
        catch (IOException)
        {
            // The note is for people; the lock is what counts.
        }

        return new DataDirectoryLock(file, full);
    }

    /// <summary>Who holds the lock, as the holder wrote it; null when that cannot be read.</summary>
    private static string? Holder(string path)
    {
        try
        {
            var text = File.ReadAllText(path).Trim();
            return text.Length > 0 ? text : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Releases the directory.</summary>
    public void Dispose() => _file.Dispose();
}

/// <summary>The data directory is held by another process (or another store of this one); nothing was opened.</summary>
public sealed class StoreLockedException : IOException
{
    public StoreLockedException()
    {
    }

    public StoreLockedException(string message)
        : base(message)
    {
    }

    public StoreLockedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
