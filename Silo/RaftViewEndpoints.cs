using System.Diagnostics;
using System.Text.Json;
using ActorCluster.Grains.Hosting;
using ActorCluster.Grains.Interfaces;

namespace ActorCluster.Silo;

/// <summary>
/// Serves the Raft view: <c>/raft</c> (a page that redraws itself every two seconds) and
/// <c>/raft/status.json</c> (its data). Every silo serves it; each asks the ring for the whole
/// cluster's status at most once a second, however many pages are open, so that a view of 1,024
/// shards (3,072 replica calls) does not grow with its audience.
/// </summary>
internal sealed class RaftViewSource(IGrainFactory grains)
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);
    private readonly Lock _gate = new();
    private Task<RaftView.Model>? _current;
    private long _startedAt;

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>The newest view: the one being built, or one at most <see cref="MaxAge"/> old.</summary>
    public Task<RaftView.Model> GetAsync()
    {
        lock (_gate)
        {
            if (_current is null || _current.IsFaulted || _current.IsCanceled || (_current.IsCompleted && Stopwatch.GetElapsedTime(_startedAt) > MaxAge))
            {
                _startedAt = Stopwatch.GetTimestamp();
                _current = LoadAsync();
            }

            return _current;
        }
    }

    private async Task<RaftView.Model> LoadAsync()
    {
        var status = await grains.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetStatus().WaitAsync(Timeout);
        return RaftView.Build(status, DateTime.UtcNow);
    }

    /// <summary>Maps the page and its data.</summary>
    public static void Map(WebApplication app)
    {
        app.MapGet("/raft", () => Results.Content(Page.Value, "text/html; charset=utf-8"));
        app.MapGet("/raft/status.json", async (RaftViewSource source) =>
        {
            try
            {
                return Results.Json(await source.GetAsync(), Json);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The cluster is busy, a silo just died, or the ring's record could not be read:
                // the page says so and asks again.
                return Results.Json(new { error = $"the cluster's status is unavailable: {e.Message}" }, Json, statusCode: StatusCodes.Status503ServiceUnavailable);
            }
        });
    }

    private static readonly Lazy<string> Page = new(() =>
    {
        using var stream = typeof(RaftViewSource).Assembly.GetManifestResourceStream("ActorCluster.Silo.RaftView.html")
            ?? throw new InvalidOperationException("The Raft view's page is missing from the silo's assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });
}
