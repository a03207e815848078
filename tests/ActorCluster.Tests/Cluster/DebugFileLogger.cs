using Microsoft.Extensions.Logging;

namespace ActorCluster.Tests.Cluster;

/// <summary>
/// Writes every silo's log lines to one file, for reading what a failed cluster test did: on with
/// <c>ACTORCLUSTER_TEST_DEBUG=1</c>, to <c>ACTORCLUSTER_TEST_LOG</c> (default
/// <c>actorcluster-test.log</c> in the temp directory).
/// </summary>
internal sealed class DebugFileLoggerProvider(string siloName) : ILoggerProvider
{
    private static readonly Lock Gate = new();
    private static readonly string FilePath = Environment.GetEnvironmentVariable("ACTORCLUSTER_TEST_LOG") is { Length: > 0 } path
        ? path : Path.Combine(Path.GetTempPath(), "actorcluster-test.log");

    public ILogger CreateLogger(string categoryName) => new Logger(siloName, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(string silo, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var line = $"{DateTime.UtcNow:HH:mm:ss.fff} {silo} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}{Environment.NewLine}";
            lock (Gate)
            {
                File.AppendAllText(FilePath, line);
            }
        }
    }
}
