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

    /// <summary>
    /// True when the failed operation was a write that may have been applied (at most once) before
    /// the failure; read the key to find out. False means it certainly was not applied.
    /// </summary>
    public bool OutcomeUnknown { get; init; }
}

/// <summary>The key is empty, longer than <see cref="Grains.Interfaces.Kv.KeyRules.MaxKeyBytes"/> UTF-8 bytes, or not well-formed UTF-16. Nothing was sent.</summary>
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
/// The shard the key belongs to is at its storage quota: the write would grow it past the quota and
/// was not applied. Deletes, and writes that do not grow the shard, still work.
/// </summary>
public sealed class QuotaExceededException : ActorClusterException
{
    public QuotaExceededException()
    {
    }

    public QuotaExceededException(string message)
        : base(message)
    {
    }

    public QuotaExceededException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The write's session on its shard expired (or was evicted) while the write was being retried:
/// the shard refused to apply it. <see cref="ActorClusterException.OutcomeUnknown"/> tells whether an
/// earlier attempt may have been applied before the session went. The client opens a new session
/// for the next write.
/// </summary>
public sealed class SessionExpiredException : ActorClusterException
{
    public SessionExpiredException()
    {
    }

    public SessionExpiredException(string message)
        : base(message)
    {
    }

    public SessionExpiredException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public SessionExpiredException(string message, bool outcomeUnknown)
        : base(message)
    {
        OutcomeUnknown = outcomeUnknown;
    }
}

/// <summary>
/// No answer within the timeout and retries. For a write, <see cref="ActorClusterException.OutcomeUnknown"/>
/// is true: it may have been applied (once) or not; read the key to find out.
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
}

/// <summary>
/// The cluster could not be reached. For a write that was already sent,
/// <see cref="ActorClusterException.OutcomeUnknown"/> is true: a silo may have applied it before it
/// became unreachable.
/// </summary>
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

    public ClusterUnavailableException(string message, bool outcomeUnknown, Exception? innerException = null)
        : base(message, innerException!)
    {
        OutcomeUnknown = outcomeUnknown;
    }
}
