using ActorCluster.Grains.Replicas;
using OpenTelemetry.Trace;

namespace ActorCluster.Silo;

/// <summary>
/// Samples every trace but those the cluster's own background traffic would start (see
/// <see cref="Tracing.IsBackgroundTraffic"/>); spans with a parent follow it (used under
/// <see cref="ParentBasedSampler"/>).
/// </summary>
internal sealed class BackgroundTrafficSampler : Sampler
{
    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters) =>
        new(Tracing.IsBackgroundTraffic(samplingParameters.Name) ? SamplingDecision.Drop : SamplingDecision.RecordAndSample);
}
