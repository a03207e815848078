using System.Text.RegularExpressions;

namespace ActorCluster.Tests;

/// <summary>
/// The consensus core, the key-value state machine and the ring must be pure and deterministic:
/// no Orleans, tasks, threads, clocks or shared randomness. This is what lets the simulator
/// replay a seed exactly.
/// </summary>
public sealed partial class PurityTests
{
    private static readonly string[] PureFolders = ["Grains/Raft", "Grains/Kv", "Grains/Ring"];

    [Fact]
    public void Pure_folders_use_no_orleans_tasks_threads_clocks_or_shared_randomness()
    {
        var root = RepositoryRoot();
        var offences = new List<string>();
        var checkedFiles = 0;
        foreach (var folder in PureFolders)
        {
            var path = Path.Combine(root, folder);
            if (!Directory.Exists(path))
            {
                continue;
            }

            foreach (var file in Directory.EnumerateFiles(path, "*.cs", SearchOption.AllDirectories))
            {
                checkedFiles++;
                offences.AddRange(Offences(File.ReadAllText(file)).Select(o => $"{Path.GetRelativePath(root, file)}: {o}"));
            }
        }

        Assert.True(checkedFiles > 10, $"only {checkedFiles} files found under the pure folders");
        Assert.Empty(offences);
    }

    [Theory]
    [InlineData("using Orleans;")]
    [InlineData("using System.Threading.Tasks;")]
    [InlineData("public Task Run() => Task.CompletedTask;")]
    [InlineData("var t = await Foo();")]
    [InlineData("var now = DateTime.UtcNow;")]
    [InlineData("var now = DateTimeOffset.Now;")]
    [InlineData("var sw = Stopwatch.StartNew();")]
    [InlineData("Thread.Sleep(1);")]
    [InlineData("var r = Random.Shared.Next();")]
    [InlineData("var r = new Random();")]
    [InlineData("var t = TimeProvider.System;")]
    [InlineData("var t = Environment.TickCount64;")]
    [InlineData("var g = Guid.NewGuid();")]
    [InlineData("lock (_gate) { }")]
    public void The_purity_check_catches_each_forbidden_construct(string line)
    {
        Assert.NotEmpty(Offences(line));
    }

    [Fact]
    public void The_purity_check_ignores_comments_and_allows_seeded_randomness()
    {
        Assert.Empty(Offences("// no Task or DateTime here\nvar rng = new SeededRandom(42);\n/// <summary>Thread-safe? No.</summary>"));
    }

    internal static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "ActorCluster.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("ActorCluster.sln not found above the test binaries.");
    }

    private static IEnumerable<string> Offences(string source)
    {
        var code = Comments().Replace(source, string.Empty);
        return Forbidden().Matches(code).Select(m => m.Value);
    }

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex Comments();

    [GeneratedRegex(@"\busing\s+Orleans\b|\bOrleans\.|\bSystem\.Threading\b|\bTask\b|\bValueTask\b|\bawait\b|\basync\b|\bDateTime(Offset)?\b|\bStopwatch\b|\bThread\b|\bRandom\.Shared\b|\bnew\s+Random\s*\(|\bTimeProvider\b|\bEnvironment\.TickCount|\bGuid\.NewGuid\b|\block\s*\(")]
    private static partial Regex Forbidden();
}
