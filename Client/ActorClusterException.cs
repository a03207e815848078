namespace ActorCluster.Client;

/// <summary>The base of every error the client reports.</summary>
public class ActorClusterException : Exception
{
    public ActorClusterException()
    {
    }

    public ActorClusterException(string message)
        : base(message)
    {
    }

    public ActorClusterException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The key is empty or longer than <see cref="Grains.Interfaces.Kv.KeyRules.MaxKeyBytes"/> UTF-8 bytes. Nothing was sent.</summary>
public sealed class InvalidKeyException : ActorClusterException
{
    public InvalidKeyException()
    {
    }

    public InvalidKeyException(string message)
        : base(message)
    {
    }

    public InvalidKeyException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The value is larger than <see cref="Grains.Interfaces.Kv.KeyRules.MaxValueBytes"/>. Nothing was sent.</summary>
public sealed class ValueTooLargeException : ActorClusterException
{
    public ValueTooLargeException()
    {
    }

    public ValueTooLargeException(string message)
        : base(message)
    {
    }

    public ValueTooLargeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// No answer within the timeout and retries. For a write, <see cref="OutcomeUnknown"/> is true: it
/// may have been applied (once) or not; read the key to find out.
/// </summary>
public sealed class OperationTimeoutException : ActorClusterException
{
    public OperationTimeoutException()
    {
    }

    public OperationTimeoutException(string message)
        : base(message)
    {
    }

    public OperationTimeoutException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public OperationTimeoutException(string message, bool outcomeUnknown, Exception? innerException = null)
        : base(message, innerException!)
    {
        OutcomeUnknown = outcomeUnknown;
    }

    /// <summary>True when the operation was a write that may have been applied.</summary>
    public bool OutcomeUnknown { get; }
}

/// <summary>No gateway of the cluster could be reached.</summary>
public sealed class ClusterUnavailableException : ActorClusterException
{
    public ClusterUnavailableException()
    {
    }

    public ClusterUnavailableException(string message)
        : base(message)
    {
    }

    public ClusterUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
