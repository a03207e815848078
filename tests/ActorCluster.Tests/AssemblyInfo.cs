// Cluster tests measure failover in wall-clock time; the simulator saturates both cores. Running
// test classes one after another keeps each from starving the other.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
