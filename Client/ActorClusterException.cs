namespace ActorCluster.Client;

/// <summary>The base of every error the client reports.</summary>
public class ActorClusterException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public ActorClusterException()
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public ActorClusterException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>, caused by <paramref name="innerException"/>.</summary>
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
    /// <summary>Creates the exception with a default message.</summary>
    public InvalidKeyException()
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public InvalidKeyException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>, caused by <paramref name="innerException"/>.</summary>
    public InvalidKeyException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The value is larger than <see cref="Grains.Interfaces.Kv.KeyRules.MaxValueBytes"/>. Nothing was sent.</summary>
public sealed class ValueTooLargeException : ActorClusterException
{
    /// <summary>Creates the exception with a default message.</summary>
    public ValueTooLargeException()
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public ValueTooLargeException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>, caused by <paramref name="innerException"/>.</summary>
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
    /// <summary>Creates the exception with a default message.</summary>
    public QuotaExceededException()
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public QuotaExceededException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>, caused by <paramref name="innerException"/>.</summary>
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
    /// <summary>Creates the exception with a default message.</summary>
    public SessionExpiredException()
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public SessionExpiredException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>, caused by <paramref name="innerException"/>.</summary>
    public SessionExpiredException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>; <paramref name="outcomeUnknown"/> says whether the write may have been applied.</summary>
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
    /// <summary>Creates the exception with a default message.</summary>
    public OperationTimeoutException()
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public OperationTimeoutException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>, caused by <paramref name="innerException"/>.</summary>
    public OperationTimeoutException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>; <paramref name="outcomeUnknown"/> says whether the write may have been applied; <paramref name="innerException"/> is its cause, if any.</summary>
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
    /// <summary>Creates the exception with a default message.</summary>
    public ClusterUnavailableException()
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public ClusterUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>, caused by <paramref name="innerException"/>.</summary>
    public ClusterUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>; <paramref name="outcomeUnknown"/> says whether the write may have been applied; <paramref name="innerException"/> is its cause, if any.</summary>
    public ClusterUnavailableException(string message, bool outcomeUnknown, Exception? innerException = null)
        : base(message, innerException!)
    {
        OutcomeUnknown = outcomeUnknown;
    }
}
