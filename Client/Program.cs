using ActorCluster.Client;
using ActorCluster.Client.Cli;

// actorcluster <command> [arguments] [--gateway host:port]... [--postgres <connection string>] [--timeout 10s]
try
{
    var line = new CommandLine(args);
    if (line.Positional.Count == 0 || line.Has("--help") || line.Has("-h"))
    {
        Console.WriteLine(Commands.Usage);
        return line.Positional.Count == 0 && !line.Has("--help") && !line.Has("-h") ? ExitCodes.Usage : ExitCodes.Ok;
    }

    return await Commands.RunAsync(line);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"usage: {e.Message} (see --help)");
    return ExitCodes.Usage;
}
catch (InvalidKeyException e)
{
    Console.Error.WriteLine($"invalid key: {e.Message}");
    return ExitCodes.InvalidInput;
}
catch (ValueTooLargeException e)
{
    Console.Error.WriteLine($"invalid value: {e.Message}");
    return ExitCodes.InvalidInput;
}
catch (QuotaExceededException e)
{
    Console.Error.WriteLine($"no space: {e.Message}");
    return ExitCodes.NoSpace;
}
catch (SessionExpiredException e) when (e.OutcomeUnknown)
{
    Console.Error.WriteLine($"session expired, outcome unknown: {e.Message}");
    return ExitCodes.Timeout;
}
catch (SessionExpiredException e)
{
    Console.Error.WriteLine($"session expired: {e.Message}");
    return ExitCodes.Unavailable;
}
catch (ClusterUnavailableException e) when (e.OutcomeUnknown)
{
    Console.Error.WriteLine($"cluster unavailable, outcome unknown: {e.Message}");
    return ExitCodes.Timeout;
}
catch (ClusterUnavailableException e)
{
    Console.Error.WriteLine($"cluster unavailable: {e.Message}");
    return ExitCodes.Unavailable;
}
catch (OperationTimeoutException e)
{
    Console.Error.WriteLine($"timeout: {e.Message}");
    return ExitCodes.Timeout;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"invalid configuration: {e.Message}");
    return ExitCodes.Usage;
}
