using ActorCluster.Grains.Raft;

namespace ActorCluster.Simulation;

/// <summary>A node's stable storage: only what readies told the driver to persist survives a crash.</summary>
internal sealed class SimDisk
{
    private readonly List<Entry> _entries = [];
    private readonly List<(ulong Index, ClusterConfig Config)> _configs = [];

    public HardState HardState { get; private set; }

    public Snapshot? Snapshot { get; private set; }

    public ulong OffsetIndex => Snapshot?.Index ?? 0;

    /// <summary>The configuration a node restarted from this disk would use.</summary>
    public ClusterConfig Config => _configs.Count > 0 ? _configs[^1].Config : Snapshot?.Metadata.Config ?? ClusterConfig.Empty;

    public ulong LastIndex => OffsetIndex + (ulong)_entries.Count;

    /// <summary>Persists a ready per its contract; returns an error when the ready breaks it.</summary>
    public string? Persist(Ready ready, bool skipHardState = false)
    {
        if (ready.Snapshot is { } snapshot)
        {
            Snapshot = snapshot;
            _entries.Clear();
            _configs.Clear();
        }

        if (ready.Entries.Length > 0)
        {
            var first = ready.Entries[0].Index;
            if (first <= OffsetIndex)
            {
                return $"ready entries start at {first}, inside the snapshot at {OffsetIndex}";
            }

            var keep = (int)Math.Min((ulong)_entries.Count, first - OffsetIndex - 1);
            _entries.RemoveRange(keep, _entries.Count - keep);
            _configs.RemoveAll(c => c.Index >= first);
            if (first != LastIndex + 1)
            {
                return $"ready entries start at {first} but storage ends at {LastIndex}";
            }

            _entries.AddRange(ready.Entries);
            foreach (var entry in ready.Entries)
            {
                if (entry.Type == EntryType.ConfChange)
                {
                    _configs.Add((entry.Index, ConfChangeEntry.Decode(entry.Data).Config));
                }
            }
        }

        if (ready.HardState is { } hardState && !skipHardState)
        {
            HardState = hardState;
        }

        return null;
    }

    /// <summary>Stores a snapshot the application made and drops the entries it covers.</summary>
    public void SaveSnapshot(Snapshot snapshot)
    {
        if (snapshot.Index <= OffsetIndex)
        {
            return;
        }

        var drop = (int)Math.Min((ulong)_entries.Count, snapshot.Index - OffsetIndex);
        _entries.RemoveRange(0, drop);
        _configs.RemoveAll(c => c.Index <= snapshot.Index);
        Snapshot = snapshot;
    }

    /// <summary>True when storage holds the entry (index, term), or a snapshot past it.</summary>
    public bool Holds(ulong index, ulong term)
    {
        if (index <= OffsetIndex)
        {
            return Snapshot is not null;
        }

        return index <= LastIndex && _entries[(int)(index - OffsetIndex - 1)].Term == term;
    }

    /// <summary>The stored term at <paramref name="index"/>, or null when not stored.</summary>
    public ulong? TermAt(ulong index)
    {
        if (index == OffsetIndex)
        {
            return Snapshot?.Term ?? 0;
        }

        return index > OffsetIndex && index <= LastIndex ? _entries[(int)(index - OffsetIndex - 1)].Term : null;
    }

    public RaftStorageState Load() => new(HardState, Snapshot, _entries.ToArray(), Snapshot?.Index ?? 0);
}
