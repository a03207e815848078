using System.Text.RegularExpressions;
using ActorCluster.Tests.Processes;
using Xunit.Abstractions;

namespace ActorCluster.Tests;

/// <summary>
/// Every command in the README and docs runs as written on a fresh clone: each shell block is
/// extracted; build commands are run; every <c>dotnet run</c> is run with its arguments in the
/// programs' check-only mode (<c>ACTORCLUSTER_CHECK_ARGS=1</c>: parse and validate, start nothing);
/// scripts must exist and parse.
/// </summary>
public sealed partial class ReadmeCommandTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, string> CheckOnly = new() { ["ACTORCLUSTER_CHECK_ARGS"] = "1" };

    public static TheoryData<string> Documents => ["README.md", "docs/benchmarks.md"];

    [Theory]
    [MemberData(nameof(Documents))]
    public async Task Every_shell_command_of_the_document_runs_as_written(string document)
    {
        var commands = ShellCommands(File.ReadAllText(Path.Combine(PurityTests.RepositoryRoot(), document))).ToList();
        Assert.NotEmpty(commands);
        var failures = new List<string>();
        foreach (var command in commands)
        {
            var problem = await CheckAsync(command);
            output.WriteLine($"{(problem is null ? "ok  " : "FAIL")} {command}{(problem is null ? string.Empty : $"\n     {problem}")}");
            if (problem is not null)
            {
                failures.Add($"{command}: {problem}");
            }
        }

        Assert.Empty(failures);
    }

    [Fact]
    public void The_extractor_joins_continuations_substitutes_variables_and_drops_comments()
    {
        const string Markdown = """
            text
            ```bash
            CS="Host=db;Database=x"
            dotnet run --project Cli -- \
                --postgres "$CS" status   # a comment
            ./test.sh
            ```
            ```csharp
            var ignored = 1;
            ```
            """;
        Assert.Equal(["dotnet run --project Cli -- --postgres \"Host=db;Database=x\" status", "./test.sh"], ShellCommands(Markdown));
    }

    [Fact]
    public async Task The_check_refuses_a_command_that_does_not_parse()
    {
        // The README once said `dotnet build -c Release Silo Client`, which MSBuild refuses.
        Assert.NotNull(await CheckAsync("dotnet build -c Release Silo Client --no-restore"));
        Assert.NotNull(await CheckAsync("dotnet run --project Cli -- put only-a-key"));
        Assert.NotNull(await CheckAsync("dotnet run --project Silo -- --no-such-switch 1"));
        Assert.NotNull(await CheckAsync("dotnet run --project tests/ActorCluster.Simulation -- --seeds many"));
        Assert.NotNull(await CheckAsync("deploy/bench/no-such-script.sh"));
    }

    /// <summary>The commands of the document's bash blocks, one per logical line, variables substituted.</summary>
    internal static List<string> ShellCommands(string markdown)
    {
        var commands = new List<string>();
        foreach (Match block in BashBlock().Matches(markdown))
        {
            var variables = new Dictionary<string, string>(StringComparer.Ordinal);
            var joined = block.Groups[1].Value.Replace("\\\n", " ", StringComparison.Ordinal);
            foreach (var raw in joined.Split('\n'))
            {
                var line = StripComment(raw).Trim();
                line = MultipleSpaces().Replace(line, " ");
                if (line.Length == 0)
                {
                    continue;
                }

                if (Assignment().Match(line) is { Success: true } assignment)
                {
                    variables[assignment.Groups[1].Value] = assignment.Groups[2].Value;
                    continue;
                }

                commands.Add(Variable().Replace(line, m => variables.TryGetValue(m.Groups[1].Value, out var value) ? value : m.Value));
            }
        }

        return commands;
    }

    private static async Task<string?> CheckAsync(string command)
    {
        var root = PurityTests.RepositoryRoot();
        var words = Words(command);
        if (words[0] is "./test.sh" || words[0].EndsWith(".sh", StringComparison.Ordinal))
        {
            var script = Path.Combine(root, words[0]);
            if (!File.Exists(script))
            {
                return $"{words[0]} does not exist";
            }

            var (code, _, errors) = await Processes.Commands.RunAsync(root, "bash", ["-n", script], CheckOnly);
            return code == 0 ? null : $"bash -n: {errors}";
        }

        if (words[0] != "dotnet")
        {
            return $"not a command this test knows how to check: {words[0]}";
        }

        if (words.Count > 1 && words[1] == "build")
        {
            var (code, standardOutput, errors) = await Processes.Commands.RunAsync(root, "dotnet", [.. words.Skip(1), "--nologo", "-v", "quiet"], null, TimeSpan.FromMinutes(10));
            return code == 0 ? null : $"exit {code}: {standardOutput} {errors}".Trim();
        }

        if (words.Count > 1 && words[1] == "pack")
        {
            // Packed as written, into a directory of the test's own.
            var arguments = words.Skip(1).ToList();
            var output = arguments.IndexOf("-o");
            if (output >= 0)
            {
                arguments.RemoveRange(output, 2);
            }

            var directory = Directory.CreateTempSubdirectory("actorcluster-pack-").FullName;
            try
            {
                var (code, standardOutput, errors) = await Processes.Commands.RunAsync(root, "dotnet", [.. arguments, "-o", directory, "--nologo", "-v", "quiet"], null, TimeSpan.FromMinutes(10));
                return code == 0 ? null : $"exit {code}: {standardOutput} {errors}".Trim();
            }
            finally
            {
                Directory.Delete(directory, recursive: true);
            }
        }

        if (words.Count > 1 && words[1] == "run")
        {
            // The same command against the Debug build the tests already have, in check-only mode.
            var separator = words.IndexOf("--");
            var runOptions = (separator < 0 ? words.Skip(2) : words.Skip(2).Take(separator - 2)).ToList();
            var programArguments = separator < 0 ? [] : words.Skip(separator + 1).ToList();
            var configuration = runOptions.IndexOf("-c");
            if (configuration >= 0)
            {
                runOptions.RemoveRange(configuration, 2);
            }

            var (code, _, errors) = await Processes.Commands.RunAsync(root, "dotnet", ["run", "--no-build", "-c", Programs.Configuration, .. runOptions, "--", .. programArguments], CheckOnly);
            return code == 0 ? null : $"exit {code}: {errors}";
        }

        return $"not a dotnet command this test knows how to check: {command}";
    }

    /// <summary>Splits a command line into words the way a shell would, for the quoting the docs use.</summary>
    private static List<string> Words(string command)
    {
        var words = new List<string>();
        var current = new System.Text.StringBuilder();
        var quote = '\0';
        var inWord = false;
        foreach (var c in command)
        {
            if (quote != '\0')
            {
                if (c == quote)
                {
                    quote = '\0';
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c is '"' or '\'')
            {
                quote = c;
                inWord = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    words.Add(current.ToString());
                    current.Clear();
                    inWord = false;
                }
            }
            else
            {
                current.Append(c);
                inWord = true;
            }
        }

        if (inWord)
        {
            words.Add(current.ToString());
        }

        return words;
    }

    private static string StripComment(string line)
    {
        var quote = '\0';
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quote != '\0')
            {
                quote = c == quote ? '\0' : quote;
            }
            else if (c is '"' or '\'')
            {
                quote = c;
            }
            else if (c == '#' && (i == 0 || char.IsWhiteSpace(line[i - 1])))
            {
                return line[..i];
            }
        }

        return line;
    }

    [GeneratedRegex(@"```bash\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex BashBlock();

    [GeneratedRegex(@"^([A-Z_][A-Z0-9_]*)=""([^""]*)""$")]
    private static partial Regex Assignment();

    [GeneratedRegex(@"\$([A-Z_][A-Z0-9_]*)")]
    private static partial Regex Variable();

    [GeneratedRegex(@"[ \t]+")]
    private static partial Regex MultipleSpaces();
}
