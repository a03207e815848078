using ActorCluster.Grains.Raft;

namespace ActorCluster.Simulation;

/// <summary>What one seed did, and every invariant it broke.</summary>
public sealed record SimulationResult(
    SimulationOptions Options,
    long Events,
    ulong TraceHash,
    IReadOnlyList<string> Violations,
    SimulationStats Stats,
    IReadOnlyList<string> Trace)
{
    public bool Passed => Violations.Count == 0;

    /// <summary>The one-line command that replays this seed with a trace.</summary>
    public string ReplayCommand =>
        $"dotnet run --project tests/ActorCluster.Simulation -- --seed {Options.Seed} --trace" +
        (Options.AmnesiaRestarts ? " --break amnesia" : Options.DiskLossRate > 0 ? " --disk-loss" : Options.LeaseReads ? " --leases" : Options.Quiesce ? " --quiesce" : string.Empty) +
        (Options.LeaseStretch != 1 ? $" --lease-stretch-percent {Options.LeaseStretch * 100:0}" : string.Empty) +
        (Options.Knobs switch
        {
            RaftTestingKnobs.GrantVoteWithoutLogCheck => " --break vote",
            RaftTestingKnobs.CommitPriorTermByCounting => " --break commit",
            RaftTestingKnobs.LeaseNeverExpires => " --break lease",
            _ => string.Empty,
        });
}

/// <summary>Counters that show a run exercised what it claims to.</summary>
public sealed class SimulationStats
{
    public int Elections { get; set; }

    public int Crashes { get; set; }

    public int DiskLosses { get; set; }

    public int Partitions { get; set; }

    public int ConfChanges { get; set; }

    public int Transfers { get; set; }

    public int SnapshotsInstalled { get; set; }

    public int Proposals { get; set; }

    public int Acknowledged { get; set; }

    public int ReadsCompleted { get; set; }

    /// <summary>Reads requested while the leader held a lease (answered without a round).</summary>
    public int LeaseReads { get; set; }

    /// <summary>Quiesced followers woken because their leader was suspected gone.</summary>
    public int QuiescedWakes { get; set; }

    /// <summary>Quiesced leaders crashed as faults stopped, their groups left to elect without them.</summary>
    public int QuiescedLeaderKills { get; set; }

    public ulong CommitIndex { get; set; }

    public long MessagesDropped { get; set; }

    public long MessagesDelivered { get; set; }

    public void Add(SimulationStats other)
    {
        Elections += other.Elections;
        Crashes += other.Crashes;
        DiskLosses += other.DiskLosses;
        Partitions += other.Partitions;
        ConfChanges += other.ConfChanges;
        Transfers += other.Transfers;
        SnapshotsInstalled += other.SnapshotsInstalled;
        Proposals += other.Proposals;
        Acknowledged += other.Acknowledged;
        ReadsCompleted += other.ReadsCompleted;
        LeaseReads += other.LeaseReads;
        QuiescedWakes += other.QuiescedWakes;
        QuiescedLeaderKills += other.QuiescedLeaderKills;
        CommitIndex += other.CommitIndex;
        MessagesDropped += other.MessagesDropped;
        MessagesDelivered += other.MessagesDelivered;
    }

    public override string ToString() =>
        $"elections={Elections} crashes={Crashes} diskLosses={DiskLosses} partitions={Partitions} confChanges={ConfChanges} transfers={Transfers} " +
        $"snapshotsInstalled={SnapshotsInstalled} proposals={Proposals} acknowledged={Acknowledged} reads={ReadsCompleted} leaseReads={LeaseReads} quiescedWakes={QuiescedWakes} quiescedLeaderKills={QuiescedLeaderKills} " +
        $"commits={CommitIndex} delivered={MessagesDelivered} dropped={MessagesDropped}";
}
