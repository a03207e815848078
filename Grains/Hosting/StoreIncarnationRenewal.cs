using ActorCluster.Grains.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ActorCluster.Grains.Hosting;

/// <summary>Raises the silo's store incarnation every <see cref="StoreIncarnation.RenewInterval"/> while the silo runs.</summary>
public sealed partial class StoreIncarnationRenewal(StoreIncarnation incarnation, ILogger<StoreIncarnationRenewal> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(StoreIncarnation.RenewInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                await incarnation.RenewAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The store or the metadata database is out of reach: tried again next time. A
                // store ahead of the record is taken as current, so a missed record costs nothing.
                LogRenewFailed(logger, incarnation.Identity.StoreHex, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not raise store {Store}'s incarnation: {Reason}")]
    private static partial void LogRenewFailed(ILogger logger, string store, string reason);
}
