using System.Diagnostics;

namespace ActorCluster.Tests.Processes;

/// <summary>Runs a program to its end, as a shell would, for tests that check what a command says.</summary>
internal static class Commands
{
    /// <summary>
    /// Runs <paramref name="program"/> in <paramref name="directory"/> and returns its exit code
    /// and what it wrote (trimmed); one still running after <paramref name="timeout"/> (2 minutes
    /// unless told) is killed with its children and answers -1, "timed out".
    /// </summary>
    public static async Task<(int Code, string Output, string Errors)> RunAsync(string directory, string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(program) { WorkingDirectory = directory, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info)!;
        var standardOutput = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, await standardOutput, "timed out");
        }

        return (process.ExitCode, (await standardOutput).Trim(), (await errors).Trim());
    }

    /// <summary>Whether <paramref name="program"/> is on the PATH.</summary>
    public static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator).Any(dir => dir.Length > 0 && File.Exists(Path.Combine(dir, program)));
}
