using Microsoft.Extensions.Logging;

namespace ActorCluster.Grains.Replicas;

public sealed partial class RaftReplicaGrain
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {Replica} wakes from quiescence: the silo of its leader {Leader} is suspected (last heard {Milliseconds} ms ago)")]
    private partial void LogWokenForSuspectedLeader(string replica, ulong leader, long milliseconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Leader {Replica} wakes from quiescence: the store {Store:x16} of one of its members is suspected or restarted")]
    private partial void LogWokenForSuspectedMember(string replica, ulong store);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Replica {Replica} activated (epoch {Epoch}): term {Term}, commit {Commit}, snapshot {SnapshotIndex}, {Entries} stored entries")]
    private partial void LogActivated(string replica, long epoch, ulong term, ulong commit, ulong snapshotIndex, int entries);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {Replica} is {Role} in term {Term} (leader {Leader})")]
    private partial void LogRole(string replica, Raft.RaftRole role, ulong term, ulong leader);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Replica} stopped: {Reason}")]
    private partial void LogStopped(string replica, string reason, Exception error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Replica} ignored a malformed message batch: {Error}")]
    private partial void LogBadMessage(string replica, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Replica {Replica} could not decode the command at index {Index}: {Error}")]
    private partial void LogBadEntry(string replica, ulong index, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Replica {Replica} took a snapshot at {Index} ({Bytes} bytes)")]
    private partial void LogSnapshot(string replica, ulong index, int bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {Replica} sent its snapshot at {Index} ({Bytes} bytes in {Chunks} chunks) to replica {Slot}")]
    private partial void LogSnapshotSent(string replica, ulong slot, ulong index, long bytes, int chunks);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {Replica} could not send snapshot chunk {Chunk} to replica {Slot}: {Reason}; the transfer starts again later")]
    private partial void LogSnapshotChunkFailed(string replica, ulong slot, int chunk, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Replica} has no state, though it stored some before: its data was lost. It will not vote or acknowledge; the shard's leader replaces it")]
    private partial void LogLost(string replica);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {Replica} was removed from its group: its state is deleted and its id tombstoned")]
    private partial void LogTombstoned(string replica);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Replica} heard no leader for long and is not in its group's configuration {ConfigIndex} the ring recorded (ids below {NextId} used): it was removed, and leaves")]
    private partial void LogRemovedPerRing(string replica, ulong configIndex, ulong nextId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Leader {Replica}: {Kind} replica {Target} on store {Store:x16} ({Reason})")]
    private partial void LogPlan(string replica, Ring.PlanKind kind, ulong target, ulong store, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Leader {Replica} plans: {Live} live stores (complete {Complete}, stable {Stable:0.0}s), {Dead} dead, {Lost} lost, unsettled {Unsettled}: {Kind} ({Reason})")]
    private partial void LogPlanInputs(string replica, int live, bool complete, double stable, int dead, int lost, bool unsettled, Ring.PlanKind kind, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Leader {Replica} could not reconcile its replicas")]
    private partial void LogReconcileFailed(string replica, Exception reason);
}
