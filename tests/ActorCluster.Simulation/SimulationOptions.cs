using ActorCluster.Grains.Raft;

namespace ActorCluster.Simulation;

/// <summary>One simulated run: the cluster, the faults, and how long each phase lasts.</summary>
public sealed record SimulationOptions
{
    public required ulong Seed { get; init; }

    public int Nodes { get; init; } = 3;

    /// <summary>Most members alive at once, learners included (membership changes stay below it).</summary>
    public int MaxMembers { get; init; } = 7;

    /// <summary>Ticks of the fault phase (faults and client load).</summary>
    public int FaultTicks { get; init; } = 400;

    /// <summary>Ticks allowed after faults stop for a leader to appear and a new proposal to commit.</summary>
    public int LivenessTicks { get; init; } = 250;

    public int ElectionTicks { get; init; } = 10;

    /// <summary>Time units per tick; message delays are in these units.</summary>
    public int UnitsPerTick { get; init; } = 10;

    public int MaxDelayUnits { get; init; } = 25;

    /// <summary>Entries per append message; small values make followers acknowledge index by index.</summary>
    public int MaxEntriesPerMessage { get; init; } = 16;

    public int MaxInflightMessages { get; init; } = 8;

    public double DropRate { get; init; } = 0.02;

    public double DuplicateRate { get; init; } = 0.02;

    public bool Partitions { get; init; } = true;

    /// <summary>Chance per tick that a node (the leader, half the time) crashes.</summary>
    public double CrashRate { get; init; } = 0.015;

    /// <summary>Most ticks a crashed node stays down during the fault phase.</summary>
    public int MaxDowntimeTicks { get; init; } = 40;

    /// <summary>Chance per tick that a partition starts when none is in place.</summary>
    public double PartitionRate { get; init; } = 0.02;

    public bool Crashes { get; init; } = true;

    public bool MembershipChanges { get; init; } = true;

    public bool Transfers { get; init; } = true;

    public bool Snapshots { get; init; } = true;

    /// <summary>Persist readies asynchronously (the node keeps stepping while a write is in flight).</summary>
    public bool AsyncDisk { get; init; } = true;

    /// <summary>The driver sends a leader's appends before its own write completes (thesis §10.2.1).</summary>
    public bool SendBeforePersisting { get; init; }

    /// <summary>The driver skips writes that would only raise the stored commit index.</summary>
    public bool SkipCommitOnlyWrites { get; init; }

    /// <summary>Leaders tell followers about each commit at once (otherwise with the next append or heartbeat).</summary>
    public bool BroadcastCommit { get; init; } = true;

    public bool PreVote { get; init; } = true;

    /// <summary>
    /// Reads as the replica grain issues them: only on a leader, one ReadIndex round at a time, the
    /// next only once the last completed or was abandoned (leadership or term changed). A round the
    /// network lost must not stall every later read: once faults stop, a read must complete.
    /// </summary>
    public bool SerialReads { get; init; }

    public bool CheckQuorum { get; init; } = true;

    /// <summary>
    /// Leaders answer reads under a lease (needs <see cref="CheckQuorum"/>). Each node's lease
    /// clock runs at its own rate, within <see cref="ClockDrift"/> of real time, while ticks keep
    /// real time; the lease is the shortest stickiness an election timeout of ticks guarantees,
    /// shortened by the drift bound, as the replica grain sizes it.
    /// </summary>
    public bool LeaseReads { get; init; }

    /// <summary>
    /// Idle groups quiesce; the driver wakes a quiesced follower once its leader is down or cut
    /// off from it (the silo liveness signal), with the time since it last heard from the leader.
    /// </summary>
    public bool Quiesce { get; init; }

    /// <summary>Largest deviation of a node's clock rate from real time (0.1: between 0.9x and 1.1x).</summary>
    public double ClockDrift { get; init; }

    /// <summary>
    /// Stretches the lease beyond what the stickiness allows (1: the safe size), to show that the
    /// simulator catches a lease that is too long.
    /// </summary>
    public double LeaseStretch { get; init; } = 1;

    /// <summary>The lease in time units: (ElectionTicks - 2) ticks at the slowest clock rate allowed.</summary>
    public long LeaseUnits => (long)((ElectionTicks - 2) * UnitsPerTick * (1 - ClockDrift) * LeaseStretch);

    /// <summary>
    /// Chance per tick that a member loses its disk: it crashes and comes back under its old id
    /// with nothing stored (one at a time, and only while the group has at least three voters).
    /// </summary>
    public double DiskLossRate { get; init; }

    /// <summary>
    /// A node that lost its disk bootstraps again as a founder (or starts empty), as a replica that
    /// treats missing state as "new" would: the amnesia that loses acknowledged writes. For showing
    /// that the simulator catches it; the real rule keeps such a node silent until it is replaced.
    /// </summary>
    public bool AmnesiaRestarts { get; init; }

    /// <summary>Record a readable trace of every event (slow; for replaying one seed).</summary>
    public bool RecordTrace { get; init; }

    internal RaftTestingKnobs Knobs { get; init; } = RaftTestingKnobs.None;

    /// <summary>
    /// The mixed scenario of a seed: cluster size, fault rates and features all drawn from it, so
    /// a range of seeds covers quiet runs, lossy networks, crash storms and membership churn.
    /// </summary>
    public static SimulationOptions Mixed(ulong seed)
    {
        var rng = new SeededRandom(seed ^ 0xC0FFEE_5EED_1234UL);
        int[] sizes = [3, 3, 5, 5, 7];
        var nodes = sizes[rng.Next(sizes.Length)];
        if (rng.Chance(0.25))
        {
            // Leader churn: short-lived leaders that leave divergent, uncommitted suffixes behind,
            // and one entry per append so followers acknowledge old-term entries one at a time.
            // This is where Figure 8 (§5.4.2) lives.
            return new SimulationOptions
            {
                Seed = seed,
                Nodes = rng.Chance(0.6) ? 3 : 5,
                FaultTicks = rng.Next(250, 500),
                MaxDelayUnits = rng.Next(5, 30),
                MaxEntriesPerMessage = 1,
                MaxInflightMessages = rng.Next(1, 4),
                DropRate = rng.Next(0, 10) / 100.0,
                DuplicateRate = rng.Next(0, 5) / 100.0,
                PartitionRate = rng.Next(20, 80) / 1000.0,
                CrashRate = rng.Next(40, 120) / 1000.0,
                MaxDowntimeTicks = rng.Next(3, 15),
                MembershipChanges = false,
                Transfers = rng.Chance(0.5),
                Snapshots = rng.Chance(0.3),
                AsyncDisk = rng.Chance(0.5),
                SendBeforePersisting = rng.Chance(0.5),
                SkipCommitOnlyWrites = rng.Chance(0.5),
                BroadcastCommit = rng.Chance(0.5),
                PreVote = rng.Chance(0.3),
                CheckQuorum = rng.Chance(0.3),
                SerialReads = rng.Chance(0.3),
            };
        }

        return new SimulationOptions
        {
            Seed = seed,
            Nodes = nodes,
            MaxMembers = Math.Max(nodes + 1, 7),
            FaultTicks = rng.Next(250, 500),
            MaxDelayUnits = rng.Next(3, 30),
            MaxEntriesPerMessage = rng.Chance(0.3) ? 1 : rng.Next(2, 64),
            MaxInflightMessages = rng.Next(1, 16),
            DropRate = rng.Chance(0.3) ? 0 : rng.Next(0, 15) / 100.0,
            DuplicateRate = rng.Next(0, 10) / 100.0,
            Partitions = rng.Chance(0.8),
            PartitionRate = rng.Next(5, 60) / 1000.0,
            CrashRate = rng.Chance(0.25) ? rng.Next(30, 80) / 1000.0 : rng.Next(5, 25) / 1000.0,
            Crashes = rng.Chance(0.8),
            MembershipChanges = rng.Chance(0.6),
            Transfers = rng.Chance(0.6),
            Snapshots = rng.Chance(0.7),
            AsyncDisk = rng.Chance(0.7),
            SendBeforePersisting = rng.Chance(0.5),
            SkipCommitOnlyWrites = rng.Chance(0.5),
            BroadcastCommit = rng.Chance(0.5),
            PreVote = rng.Chance(0.85),
            CheckQuorum = rng.Chance(0.85),
            SerialReads = rng.Chance(0.3),
        };
    }

    /// <summary>The mixed scenario of a seed with disk loss on top (the same draws, so the same cluster and faults otherwise).</summary>
    public static SimulationOptions WithDiskLoss(ulong seed, bool amnesiaRestarts = false)
    {
        var rng = new SeededRandom(seed ^ 0xD15C_1055_0000_0001UL);
        return Mixed(seed) with
        {
            DiskLossRate = rng.Next(5, 30) / 1000.0,
            AmnesiaRestarts = amnesiaRestarts,
            Crashes = true,
            // As the replica grains run: a member that can never win (its log is behind) must not
            // keep disrupting the one that can while a third member is gone.
            PreVote = true,
            CheckQuorum = true,
        };
    }

    /// <summary>
    /// The mixed scenario of a seed with leader leases on (and check-quorum, which they need) and
    /// lease clocks that drift by up to 10% from real time.
    /// </summary>
    public static SimulationOptions WithLeases(ulong seed) => Mixed(seed) with
    {
        CheckQuorum = true,
        LeaseReads = true,
        ClockDrift = 0.1,
    };

    /// <summary>The mixed scenario of a seed with quiescence on, leases too half the time.</summary>
    public static SimulationOptions WithQuiescence(ulong seed)
    {
        var leases = (seed & 1) == 0;
        return Mixed(seed) with
        {
            Quiesce = true,
            CheckQuorum = leases || Mixed(seed).CheckQuorum,
            LeaseReads = leases,
            ClockDrift = leases ? 0.1 : 0,
        };
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"seed={Seed} nodes={Nodes} ticks={FaultTicks} delay<={MaxDelayUnits} batch={MaxEntriesPerMessage} inflight={MaxInflightMessages} drop={DropRate:0.00} dup={DuplicateRate:0.00} " +
        $"partitions={Partitions}/{PartitionRate:0.000} crashes={Crashes}/{CrashRate:0.000}/{MaxDowntimeTicks} membership={MembershipChanges} transfers={Transfers} " +
        $"snapshots={Snapshots} asyncDisk={AsyncDisk} early={SendBeforePersisting} skipCommit={SkipCommitOnlyWrites} broadcastCommit={BroadcastCommit} preVote={PreVote} checkQuorum={CheckQuorum} serialReads={SerialReads}" +
        (DiskLossRate > 0 ? $" diskLoss={DiskLossRate:0.000}{(AmnesiaRestarts ? "/amnesia" : string.Empty)}" : string.Empty) +
        (LeaseReads ? $" lease={LeaseUnits}/drift={ClockDrift:0.00}" : string.Empty) +
        (Quiesce ? " quiesce" : string.Empty);
}
