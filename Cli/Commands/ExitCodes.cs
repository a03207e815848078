namespace ActorCluster.Cli;

/// <summary>Process exit codes of the command line.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The key does not exist, or a compare-and-swap found another version.</summary>
    public const int NotDone = 1;

    public const int Usage = 2;

    /// <summary>The cluster could not be reached; nothing was applied.</summary>
    public const int Unavailable = 3;

    /// <summary>No answer (in time, or at all): a write's outcome is unknown.</summary>
    public const int Timeout = 4;

    public const int InvalidInput = 5;

    /// <summary>A chaos run could not decide (its checker ran out of time, or final reads failed).</summary>
    public const int Inconclusive = 6;

    /// <summary>The key's shard is at its storage quota; the write was not applied.</summary>
    public const int NoSpace = 7;
}
