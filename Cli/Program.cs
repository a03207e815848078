using ActorCluster.Cli;

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
catch (ActorClusterException e)
{
    // What went wrong, and whether a write may have been applied, decide the message and the code.
    var (what, code) = e switch
    {
        InvalidKeyException => ("invalid key", ExitCodes.InvalidInput),
        ValueTooLargeException => ("invalid value", ExitCodes.InvalidInput),
        QuotaExceededException => ("no space", ExitCodes.NoSpace),
        { OutcomeUnknown: true } => ($"{Kind(e)}, outcome unknown", ExitCodes.Timeout),
        OperationTimeoutException => ("timeout", ExitCodes.Timeout),
        _ => (Kind(e), ExitCodes.Unavailable),
    };
    Console.Error.WriteLine($"{what}: {e.Message}");
    return code;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"invalid configuration: {e.Message}");
    return ExitCodes.Usage;
}

static string Kind(ActorClusterException e) => e switch
{
    SessionExpiredException => "session expired",
    OperationTimeoutException => "timeout",
    _ => "cluster unavailable",
};
