using System.IO.Compression;
using System.Xml.Linq;
using ActorCluster.Tests.Processes;

namespace ActorCluster.Tests.Operate;

/// <summary>The packages applications and operators install: what they carry and what they pull in.</summary>
public sealed class PackageTests
{
    [Fact]
    public async Task The_client_package_depends_on_the_contract_and_the_orleans_client_only_and_documents_its_api()
    {
        var (nuspec, files) = await PackAsync("Client");
        Assert.Equal(["ActorCluster.Grains.Interfaces", "Microsoft.Orleans.Client"], Dependencies(nuspec));
        Assert.Contains("lib/net10.0/ActorCluster.Client.dll", files);
        Assert.Contains("lib/net10.0/ActorCluster.Client.xml", files);
        // No fault injector, no database driver, no command line.
        Assert.DoesNotContain(files, f => f.Contains("ActorCluster.Cli.", StringComparison.Ordinal) || f.Contains("Npgsql", StringComparison.Ordinal) || f.Contains("Chaos", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_command_line_packs_as_a_dotnet_tool_named_actorcluster()
    {
        var (nuspec, files) = await PackAsync("Cli");
        var packageTypes = nuspec.Descendants().Where(e => e.Name.LocalName == "packageType").Select(e => e.Attribute("name")?.Value).ToList();
        Assert.Contains("DotnetTool", packageTypes);
        Assert.Contains(files, f => f.EndsWith("/DotnetToolSettings.xml", StringComparison.Ordinal));
        Assert.Contains(files, f => f.EndsWith("/ActorCluster.Cli.dll", StringComparison.Ordinal));
        Assert.Contains(files, f => f.EndsWith("/ActorCluster.Client.dll", StringComparison.Ordinal));
    }

    private static List<string?> Dependencies(XDocument nuspec) =>
        [.. nuspec.Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => e.Attribute("id")?.Value).Distinct().Order(StringComparer.Ordinal)];

    private static async Task<(XDocument Nuspec, List<string> Files)> PackAsync(string project)
    {
        var output = Directory.CreateTempSubdirectory("actorcluster-pack-").FullName;
        try
        {
            var (code, standardOutput, errors) = await Processes.Commands.RunAsync(
                PurityTests.RepositoryRoot(), "dotnet", ["pack", Path.Combine(PurityTests.RepositoryRoot(), project), "-c", Programs.Configuration, "--no-build", "-o", output, "--nologo"], timeout: TimeSpan.FromMinutes(5));
            Assert.True(code == 0, $"dotnet pack {project}: {standardOutput} {errors}");
            var package = Assert.Single(Directory.GetFiles(output, "*.nupkg"));
            using var zip = ZipFile.OpenRead(package);
            var files = zip.Entries.Select(e => e.FullName).ToList();
            await using var stream = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open();
            return (await XDocument.LoadAsync(stream, LoadOptions.None, CancellationToken.None), files);
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
