using ActorCluster.Grains.Raft;

namespace ActorCluster.Tests.Raft;

/// <summary>Builds nodes and drains their readies the way a driver would, without storage.</summary>
internal static class RaftHarness
{
    public static RaftOptions Options(ulong id, int election = 10, int heartbeat = 1, bool preVote = false, bool checkQuorum = false, RaftTestingKnobs knobs = RaftTestingKnobs.None) => new()
    {
        Id = id,
        ElectionTicks = election,
        HeartbeatTicks = heartbeat,
        PreVote = preVote,
        CheckQuorum = checkQuorum,
        Random = new SeededRandom(id * 7919),
        Knobs = knobs,
    };

    /// <summary>A founding member of a group of <paramref name="voters"/>, its bootstrap ready handled.</summary>
    public static RaftNode NewNode(ulong id, ulong[] voters, int election = 10, int heartbeat = 1, bool preVote = false, bool checkQuorum = false, RaftTestingKnobs knobs = RaftTestingKnobs.None)
    {
        var node = RaftNode.Bootstrap(Options(id, election, heartbeat, preVote, checkQuorum, knobs), ClusterConfig.OfVoters(voters));
        Drain(node);
        return node;
    }

    /// <summary>A node restarted from the given term, vote and log (entries from index 1), as if from storage.</summary>
    public static RaftNode WithLog(ulong id, ulong[] voters, ulong term, ulong[] entryTerms, ulong vote = 0, ulong commit = 0, bool preVote = false, bool checkQuorum = false, RaftTestingKnobs knobs = RaftTestingKnobs.None)
    {
        var snapshot = new Snapshot(new SnapshotMetadata(0, 0, ClusterConfig.OfVoters(voters)), []);
        var entries = entryTerms.Select((t, i) => new Entry((ulong)i + 1, t, EntryType.Normal, [])).ToArray();
        return RaftNode.Start(Options(id, preVote: preVote, checkQuorum: checkQuorum, knobs: knobs), new RaftStorageState(new HardState(term, vote, commit), snapshot, entries, commit));
    }

    /// <summary>Handles every pending ready; returns the messages they carried.</summary>
    public static List<Message> Drain(RaftNode node)
    {
        var messages = new List<Message>();
        while (node.HasReady())
        {
            var ready = node.GetReady();
            messages.AddRange(ready.Messages);
            node.Advance(ready);
        }

        return messages;
    }

    /// <summary>Like <see cref="Drain"/> but keeps the readies, for tests of their contents.</summary>
    public static List<Ready> DrainReadies(RaftNode node)
    {
        var readies = new List<Ready>();
        while (node.HasReady())
        {
            var ready = node.GetReady();
            readies.Add(ready);
            node.Advance(ready);
        }

        return readies;
    }

    public static void TickUntil(RaftNode node, Func<bool> condition, int maxTicks = 1000)
    {
        for (var i = 0; i < maxTicks && !condition(); i++)
        {
            node.Tick();
        }

        Assert.True(condition(), "condition not reached within the tick budget");
    }

    public static Message Msg(MessageType type, ulong from, ulong to, ulong term, ulong index = 0, ulong logTerm = 0, Entry[]? entries = null, ulong commit = 0, bool reject = false, ulong hint = 0, ulong context = 0) => new()
    {
        Type = type,
        From = from,
        To = to,
        Term = term,
        Index = index,
        LogTerm = logTerm,
        Entries = entries ?? [],
        Commit = commit,
        Reject = reject,
        RejectHint = hint,
        Context = context,
    };

    public static Entry[] Entries(ulong firstIndex, params ulong[] terms) =>
        [.. terms.Select((t, i) => new Entry(firstIndex + (ulong)i, t, EntryType.Normal, [(byte)(firstIndex + (ulong)i)]))];
}
