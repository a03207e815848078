using System.Text;
using ActorCluster.Grains.Hosting;

namespace ActorCluster.Tests.Operate;

public sealed class HttpAccessTests
{
    private static string Basic(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    [Fact]
    public void Without_a_token_everything_is_open()
    {
        var access = new HttpAccess(null, protectMetrics: true);
        Assert.False(access.Protected);
        Assert.True(access.Allows("/raft", null));
        Assert.True(new HttpAccess(string.Empty, protectMetrics: false).Allows("/dashboard", null));
    }

    [Fact]
    public void With_a_token_only_the_token_opens_the_views_and_the_probes_stay_open()
    {
        var access = new HttpAccess("s3cret", protectMetrics: false);
        Assert.True(access.Protected);
        foreach (var path in new[] { "/raft", "/raft/status.json", "/dashboard", "/store", "/faults/clock", "/" })
        {
            Assert.False(access.Allows(path, null), path);
            Assert.False(access.Allows(path, "Bearer wrong"), path);
            Assert.False(access.Allows(path, "Bearer s3cret-and-more"), path);
            Assert.False(access.Allows(path, Basic("admin", "wrong")), path);
            Assert.False(access.Allows(path, "Basic !!not-base64!!"), path);
            Assert.False(access.Allows(path, "Basic " + Convert.ToBase64String("no-colon"u8.ToArray())), path);
            Assert.False(access.Allows(path, "Digest s3cret"), path);
            Assert.True(access.Allows(path, "Bearer s3cret"), path);
            Assert.True(access.Allows(path, "bearer  s3cret "), path);
            Assert.True(access.Allows(path, Basic("any-user", "s3cret")), path);
            Assert.True(access.Allows(path, Basic(string.Empty, "s3cret")), path);
        }

        Assert.True(access.Allows("/healthz", null));
        Assert.True(access.Allows("/readyz", null));
        Assert.True(access.Allows("/metrics", null));
        Assert.False(new HttpAccess("s3cret", protectMetrics: true).Allows("/metrics", null));
        // A token from a file keeps its trailing newline; it is not part of the token.
        Assert.True(new HttpAccess("s3cret\n", protectMetrics: false).Allows("/raft", "Bearer s3cret"));
        Assert.False(new HttpAccess(" \n", protectMetrics: false).Protected);
        // A password with a colon: everything after the first colon is the password.
        Assert.True(new HttpAccess("a:b", protectMetrics: false).Allows("/raft", Basic("user", "a:b")));
    }
}
