using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace ActorCluster.Tests.Cluster;

/// <summary>Sums what the ActorCluster meter's counters record in this process, by instrument and tags.</summary>
internal sealed class MetricRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _totals = new();

    public MetricRecorder(string meterName)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == meterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            _totals.AddOrUpdate(instrument.Name, value, (_, total) => total + value);
            foreach (var tag in tags)
            {
                _totals.AddOrUpdate($"{instrument.Name}[{tag.Key}={tag.Value}]", value, (_, total) => total + value);
            }
        });
        _listener.Start();
    }

    /// <summary>The sum recorded for an instrument, or for one tag value of it (<c>name[key=value]</c>).</summary>
    public long this[string name] => _totals.GetValueOrDefault(name);

    public void Dispose() => _listener.Dispose();
}
