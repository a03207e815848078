using System.Collections.Concurrent;
using ActorCluster.Grains.Raft;
using ActorCluster.Grains.Storage;

namespace ActorCluster.Tests.Cluster;

/// <summary>Faults a test injects into every silo's store, and the claims they counted.</summary>
internal sealed class FaultPlan
{
    internal ConcurrentDictionary<string, Exception> FailNext { get; } = new();

    internal ConcurrentDictionary<string, int> Claims { get; } = new();

    internal ConcurrentDictionary<string, Exception> FailingClaims { get; } = new();

    /// <summary>Every claim of <paramref name="replicaId"/> (each activation makes one) throws <paramref name="error"/> until <see cref="StopFailingClaims"/>.</summary>
    public void FailClaims(string replicaId, Exception error) => FailingClaims[replicaId] = error;

    public void StopFailingClaims() => FailingClaims.Clear();

    /// <summary>The next save of <paramref name="replicaId"/> throws <paramref name="error"/> without writing.</summary>
    public void FailNextSave(string replicaId, Exception error) => FailNext[replicaId] = error;

    /// <summary>How many activations have claimed <paramref name="replicaId"/>.</summary>
    public int ClaimsOf(string replicaId) => Claims.GetValueOrDefault(replicaId);
}

/// <summary>A replica store that passes everything through, but can fail a chosen replica's next save and counts claims.</summary>
internal sealed class FaultyReplicaStore(IReplicaStore inner, FaultPlan plan) : IReplicaStore
{
    private readonly ConcurrentDictionary<string, Exception> _failNextSave = plan.FailNext;
    private readonly ConcurrentDictionary<string, int> _claims = plan.Claims;

    public async Task<ReplicaClaim> ClaimAsync(string replicaId, CancellationToken cancellationToken = default)
    {
        if (plan.FailingClaims.TryGetValue(replicaId, out var failure))
        {
            _claims.AddOrUpdate(replicaId, 1, (_, n) => n + 1);
            throw failure;
        }

        var claim = await inner.ClaimAsync(replicaId, cancellationToken);
        _claims.AddOrUpdate(replicaId, 1, (_, n) => n + 1);
        return claim;
    }

    public Task<RaftStorageState> LoadAsync(ReplicaClaim claim, CancellationToken cancellationToken = default) =>
        inner.LoadAsync(claim, cancellationToken);

    public Task SaveAsync(ReplicaClaim claim, ReplicaWrite write, CancellationToken cancellationToken = default) =>
        _failNextSave.TryRemove(claim.ReplicaId, out var error) ? Task.FromException(error) : inner.SaveAsync(claim, write, cancellationToken);

    public Task<bool> CreateReplicaAsync(string replicaId, ClusterConfig? founders, CancellationToken cancellationToken = default) =>
        inner.CreateReplicaAsync(replicaId, founders, cancellationToken);

    public Task MarkInitializedAsync(string replicaId, CancellationToken cancellationToken = default) =>
        inner.MarkInitializedAsync(replicaId, cancellationToken);

    public Task TombstoneAsync(ReplicaClaim claim, CancellationToken cancellationToken = default) =>
        inner.TombstoneAsync(claim, cancellationToken);

    public Task<ReplicaPresence> FindReplicaAsync(string replicaId, CancellationToken cancellationToken = default) =>
        inner.FindReplicaAsync(replicaId, cancellationToken);

    public Task<IReadOnlyList<string>> ListReplicasAsync(CancellationToken cancellationToken = default) =>
        inner.ListReplicasAsync(cancellationToken);
}
