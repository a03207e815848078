namespace ActorCluster.Grains.Raft;

/// <summary>The kind of a log entry.</summary>
public enum EntryType : byte
{
    /// <summary>An application command (or the empty entry a new leader appends).</summary>
    Normal = 0,

    /// <summary>A membership change; its data is a <see cref="ConfChangeEntry"/> in binary form.</summary>
    ConfChange = 1,
}

/// <summary>
/// One entry of the replicated log. Immutable by contract: <see cref="Data"/> is never mutated
/// after the entry is proposed, so entries are shared between the log, messages and readies.
/// </summary>
public readonly record struct Entry(ulong Index, ulong Term, EntryType Type, byte[] Data)
{
    /// <summary>The payload size in bytes, used for message size limits.</summary>
    public int Size => Data.Length;
}
