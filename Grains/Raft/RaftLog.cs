namespace ActorCluster.Grains.Raft;

/// <summary>
/// A node's log in memory: the entries after the compaction point, with the commit, apply and
/// persistence cursors. The driver's storage mirrors it through the ready contract.
/// </summary>
/// <remarks>
/// Invariants: Offset &lt;= Applied &lt;= Applying &lt;= Committed &lt;= LastIndex (Applied may sit
/// below Offset only while a restored snapshot waits to be handed out); Stable &lt; UnstableFrom.
/// </remarks>
internal sealed class RaftLog
{
    // Configuration entries still in the log, oldest first; the configuration at the compaction
    // point is _offsetConfig. Membership takes effect when appended (thesis §4.1), so the newest
    // configuration entry in the log is the one in force, and truncating it reverts it.
    private readonly List<(ulong Index, ClusterConfig Config)> _configs = [];
    private ClusterConfig _offsetConfig;
    private Entry[] _entries;
    private int _head;
    private int _count;

    public RaftLog(SnapshotMetadata offset, Snapshot? latestSnapshot, IReadOnlyList<Entry> entries, ulong committed, ulong applied)
    {
        OffsetIndex = offset.Index;
        OffsetTerm = offset.Term;
        _offsetConfig = offset.Config;
        LatestSnapshot = latestSnapshot;
        var offsetIndex = offset.Index;
        _entries = new Entry[Math.Max(64, entries.Count * 2)];
        UnstableFrom = offsetIndex + 1;
        for (var i = 0; i < entries.Count; i++)
        {
            if (entries[i].Index != offsetIndex + 1 + (ulong)i)
            {
                throw new ArgumentException($"Stored entries are not contiguous after index {offsetIndex}.", nameof(entries));
            }

            PushBack(entries[i]);
        }

        if (committed > LastIndex || committed < offsetIndex)
        {
            throw new ArgumentException($"Commit index {committed} is outside the stored log [{offsetIndex}, {LastIndex}].", nameof(committed));
        }

        Committed = committed;
        Applied = Math.Max(applied, offsetIndex);
        if (Applied > committed)
        {
            throw new ArgumentException($"Applied index {applied} is past the commit index {committed}.", nameof(applied));
        }

        Applying = Applied;
        Stable = LastIndex;
        UnstableFrom = LastIndex + 1;
    }

    /// <summary>The index of the last compacted entry (the snapshot the log starts after).</summary>
    public ulong OffsetIndex { get; private set; }

    public ulong OffsetTerm { get; private set; }

    /// <summary>The newest snapshot, sent to followers whose next entry was compacted.</summary>
    public Snapshot? LatestSnapshot { get; private set; }

    /// <summary>A snapshot received from the leader and not yet handed out in a ready.</summary>
    public Snapshot? UnstableSnapshot { get; private set; }

    public ulong Committed { get; private set; }

    /// <summary>The highest index the application has applied (advanced).</summary>
    public ulong Applied { get; private set; }

    /// <summary>The highest index handed out for applying.</summary>
    public ulong Applying { get; private set; }

    /// <summary>The highest index known to be on stable storage.</summary>
    public ulong Stable { get; private set; }

    /// <summary>The first index not yet handed out for persisting.</summary>
    public ulong UnstableFrom { get; private set; }

    /// <summary>The configuration in force: the newest in the log, else the compaction point's.</summary>
    public ClusterConfig Config => _configs.Count > 0 ? _configs[^1].Config : _offsetConfig;

    /// <summary>The index of the entry that set <see cref="Config"/> (the offset if none).</summary>
    public ulong ConfigIndex => _configs.Count > 0 ? _configs[^1].Index : OffsetIndex;

    public ulong FirstIndex => OffsetIndex + 1;

    public ulong LastIndex => OffsetIndex + (ulong)_count;

    public ulong LastTerm => TermOrZero(LastIndex);

    public bool HasUnstableEntries => UnstableFrom <= LastIndex;

    public bool HasCommittedToApply => Committed > Math.Max(Applying, OffsetIndex);

    /// <summary>The term at <paramref name="index"/>; false if it was compacted or does not exist.</summary>
    public bool TryTerm(ulong index, out ulong term)
    {
        if (index == OffsetIndex)
        {
            term = OffsetTerm;
            return true;
        }

        if (index < OffsetIndex || index > LastIndex)
        {
            term = 0;
            return false;
        }

        term = _entries[_head + (int)(index - OffsetIndex - 1)].Term;
        return true;
    }

    public ulong TermOrZero(ulong index) => TryTerm(index, out var term) ? term : 0;

    public bool MatchTerm(ulong index, ulong term) => TryTerm(index, out var t) && t == term;

    public Entry At(ulong index)
    {
        if (index <= OffsetIndex || index > LastIndex)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Log holds ({OffsetIndex}, {LastIndex}].");
        }

        return _entries[_head + (int)(index - OffsetIndex - 1)];
    }

    /// <summary>§5.4.1: is a log ending at (lastIndex, lastTerm) at least as up to date as this one?</summary>
    public bool IsUpToDate(ulong lastIndex, ulong lastTerm) =>
        lastTerm > LastTerm || (lastTerm == LastTerm && lastIndex >= LastIndex);

    /// <summary>Appends entries that continue the log (the leader's own proposals).</summary>
    public void Append(ReadOnlySpan<Entry> entries)
    {
        foreach (var entry in entries)
        {
            if (entry.Index != LastIndex + 1)
            {
                throw new InvalidOperationException($"Entry {entry.Index} does not continue the log at {LastIndex}.");
            }

            PushBack(entry);
        }
    }

    /// <summary>
    /// The follower side of AppendEntries (§5.3): if the log has (prevIndex, prevTerm), drop the
    /// first conflicting suffix, append what is new and return the last index the message vouches
    /// for; otherwise null.
    /// </summary>
    public ulong? MaybeAppend(ulong prevIndex, ulong prevTerm, ulong leaderCommit, Entry[] entries)
    {
        if (!MatchTerm(prevIndex, prevTerm))
        {
            return null;
        }

        var lastNew = prevIndex + (ulong)entries.Length;
        for (var i = 0; i < entries.Length; i++)
        {
            var entry = entries[i];
            if (MatchTerm(entry.Index, entry.Term))
            {
                continue;
            }

            // First conflicting or new entry: everything from here on is replaced.
            if (entry.Index <= Committed)
            {
                throw new InvalidOperationException($"Leader would overwrite committed entry {entry.Index} (commit {Committed}).");
            }

            TruncateFrom(entry.Index);
            Append(entries.AsSpan(i));
            break;
        }

        CommitTo(Math.Min(leaderCommit, lastNew));
        return lastNew;
    }

    /// <summary>
    /// The largest index at or below <paramref name="index"/> whose term is at most
    /// <paramref name="term"/> — the fast-backtracking hint of a rejected append.
    /// </summary>
    public (ulong Index, ulong Term) FindConflictByTerm(ulong index, ulong term)
    {
        for (var i = Math.Min(index, LastIndex); ; i--)
        {
            if (!TryTerm(i, out var t))
            {
                return (i, 0);
            }

            if (t <= term || i == OffsetIndex)
            {
                return (i, t);
            }
        }
    }

    /// <summary>Payload bytes of the entries in [lo, hi] that are still in the log.</summary>
    public long BytesBetween(ulong lo, ulong hi)
    {
        long bytes = 0;
        for (var i = Math.Max(lo, FirstIndex); i <= Math.Min(hi, LastIndex); i++)
        {
            bytes += _entries[_head + (int)(i - OffsetIndex - 1)].Size;
        }

        return bytes;
    }

    public static long SizeOf(ReadOnlySpan<Entry> entries)
    {
        long bytes = 0;
        foreach (var entry in entries)
        {
            bytes += entry.Size;
        }

        return bytes;
    }

    /// <summary>Entries [lo, hi], at most <paramref name="maxCount"/> and about <paramref name="maxBytes"/> (at least one).</summary>
    public Entry[] Slice(ulong lo, ulong hi, int maxCount, int maxBytes)
    {
        if (lo > hi)
        {
            return [];
        }

        var count = (int)Math.Min((ulong)maxCount, hi - lo + 1);
        var start = _head + (int)(lo - OffsetIndex - 1);
        var bytes = 0;
        for (var i = 0; i < count; i++)
        {
            bytes += _entries[start + i].Size;
            if (bytes > maxBytes && i > 0)
            {
                count = i;
                break;
            }
        }

        return _entries.AsSpan(start, count).ToArray();
    }

    public void CommitTo(ulong index)
    {
        if (index <= Committed)
        {
            return;
        }

        if (index > LastIndex)
        {
            throw new InvalidOperationException($"Commit {index} is past the last index {LastIndex}.");
        }

        Committed = index;
    }

    /// <summary>Hands out the unstable entries for persisting.</summary>
    public Entry[] TakeUnstableEntries()
    {
        if (!HasUnstableEntries)
        {
            return [];
        }

        var entries = Slice(UnstableFrom, LastIndex, int.MaxValue, int.MaxValue);
        UnstableFrom = LastIndex + 1;
        return entries;
    }

    /// <summary>Hands out the committed entries that are not yet applied.</summary>
    public Entry[] TakeCommittedEntries()
    {
        var from = Math.Max(Applying, OffsetIndex) + 1;
        if (from > Committed)
        {
            return [];
        }

        var entries = Slice(from, Committed, int.MaxValue, int.MaxValue);
        Applying = Committed;
        return entries;
    }

    public Snapshot? TakeUnstableSnapshot()
    {
        var snapshot = UnstableSnapshot;
        UnstableSnapshot = null;
        return snapshot;
    }

    /// <summary>Records that the ready in flight was persisted and its committed entries applied.</summary>
    public void Advance(Snapshot? snapshot, Entry[] applied)
    {
        if (snapshot is not null)
        {
            Applied = Math.Max(Applied, snapshot.Index);
            Applying = Math.Max(Applying, snapshot.Index);
        }

        // With one ready in flight, everything handed out before it is durable now. A conflicting
        // append since then lowered UnstableFrom, so a replaced suffix is not counted.
        Stable = Math.Max(Stable, UnstableFrom - 1);

        if (applied.Length > 0)
        {
            Applied = Math.Max(Applied, applied[^1].Index);
        }
    }

    /// <summary>Replaces the whole log with a snapshot received from the leader (§7).</summary>
    public void Restore(Snapshot snapshot)
    {
        ClearEntries();
        _configs.Clear();
        _offsetConfig = snapshot.Metadata.Config;
        OffsetIndex = snapshot.Index;
        OffsetTerm = snapshot.Term;
        LatestSnapshot = snapshot;
        UnstableSnapshot = snapshot;
        Committed = snapshot.Index;
        Stable = snapshot.Index;
        UnstableFrom = snapshot.Index + 1;
    }

    /// <summary>Records a snapshot the application made of its applied state.</summary>
    public void SetLatestSnapshot(Snapshot snapshot) => LatestSnapshot = snapshot;

    /// <summary>The configuration in force at <paramref name="index"/> (at or after the offset).</summary>
    public ClusterConfig ConfigAt(ulong index) => ConfigEntryAt(index).Config;

    /// <summary>
    /// The configuration in force at <paramref name="index"/> (at or after the offset) and the index
    /// of the entry that set it; the offset for the compaction point's configuration.
    /// </summary>
    public (ClusterConfig Config, ulong Index) ConfigEntryAt(ulong index)
    {
        for (var i = _configs.Count - 1; i >= 0; i--)
        {
            if (_configs[i].Index <= index)
            {
                return (_configs[i].Config, _configs[i].Index);
            }
        }

        return (_offsetConfig, OffsetIndex);
    }

    /// <summary>Discards entries up to and including <paramref name="index"/>.</summary>
    public void CompactTo(ulong index)
    {
        if (index <= OffsetIndex)
        {
            return;
        }

        var term = TermOrZero(index);
        _offsetConfig = ConfigAt(index);
        _configs.RemoveAll(c => c.Index <= index);
        var drop = (int)(index - OffsetIndex);
        Array.Clear(_entries, _head, drop);
        _head += drop;
        _count -= drop;
        OffsetIndex = index;
        OffsetTerm = term;
    }

    /// <summary>The entries in (from, to], for scanning (configuration recovery).</summary>
    public IEnumerable<Entry> EntriesDescending(ulong fromExclusive, ulong toInclusive)
    {
        for (var i = Math.Min(toInclusive, LastIndex); i > Math.Max(fromExclusive, OffsetIndex); i--)
        {
            yield return At(i);
        }
    }

    private void TruncateFrom(ulong index)
    {
        var keep = (int)(index - OffsetIndex - 1);
        Array.Clear(_entries, _head + keep, _count - keep);
        _count = keep;
        UnstableFrom = Math.Min(UnstableFrom, index);
        Stable = Math.Min(Stable, index - 1);
        _configs.RemoveAll(c => c.Index >= index);
    }

    private void ClearEntries()
    {
        Array.Clear(_entries, _head, _count);
        _head = 0;
        _count = 0;
    }

    private void PushBack(Entry entry)
    {
        if (_head + _count == _entries.Length)
        {
            if (_head >= _entries.Length / 2)
            {
                // Reclaim the compacted front instead of growing.
                Array.Copy(_entries, _head, _entries, 0, _count);
                Array.Clear(_entries, _count, _head);
            }
            else
            {
                var grown = new Entry[_entries.Length * 2];
                Array.Copy(_entries, _head, grown, 0, _count);
                _entries = grown;
            }

            _head = 0;
        }

        _entries[_head + _count] = entry;
        _count++;
        if (entry.Type == EntryType.ConfChange)
        {
            _configs.Add((entry.Index, ConfChangeEntry.Decode(entry.Data).Config));
        }
    }
}
