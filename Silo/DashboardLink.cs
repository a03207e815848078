using System.Text;

namespace ActorCluster.Silo;

/// <summary>
/// Puts a link to the Raft view on the Orleans Dashboard's page. The dashboard offers no place for
/// links of its own, so its HTML shell (one small document, the same for every view) gets the link
/// inserted before <c>&lt;/body&gt;</c>; its scripts, data and everything else pass untouched.
/// </summary>
internal sealed class DashboardLink(RequestDelegate next)
{
    /// <summary>The element inserted; the browser test finds it by its id.</summary>
    public const string Anchor =
        "<a id=\"actorcluster-raft-view\" href=\"/raft\" style=\"position:fixed;right:14px;bottom:14px;z-index:10000;" +
        "background:#1d2430;color:#fff;padding:6px 12px;border-radius:6px;font:13px system-ui,sans-serif;text-decoration:none\">Raft view</a>";

    public async Task InvokeAsync(HttpContext context)
    {
        if (!IsShell(context.Request))
        {
            await next(context);
            return;
        }

        // The shell uncompressed, so that it can be read and extended.
        context.Request.Headers.AcceptEncoding = "identity";
        var original = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = original;
        }

        var body = buffer.ToArray();
        if (context.Response.StatusCode == StatusCodes.Status200OK
            && context.Response.ContentType?.StartsWith("text/html", StringComparison.OrdinalIgnoreCase) == true
            && !context.Response.Headers.ContentEncoding.Any(e => e is { Length: > 0 } and not "identity"))
        {
            body = Insert(body);
            context.Response.ContentLength = body.Length;
            context.Response.Headers.ETag = default;
        }

        await original.WriteAsync(body, context.RequestAborted);
    }

    /// <summary>The dashboard's HTML shell: its root, with or without a trailing slash or index.html.</summary>
    private static bool IsShell(HttpRequest request) =>
        HttpMethods.IsGet(request.Method)
        && request.Path.Value is "/dashboard" or "/dashboard/" or "/dashboard/index.html";

    /// <summary><paramref name="html"/> with the link before its closing body tag (or at its end).</summary>
    public static byte[] Insert(byte[] html)
    {
        var text = Encoding.UTF8.GetString(html);
        if (text.Contains("id=\"actorcluster-raft-view\"", StringComparison.Ordinal))
        {
            return html;
        }

        var end = text.LastIndexOf("</body>", StringComparison.OrdinalIgnoreCase);
        return Encoding.UTF8.GetBytes(end < 0 ? text + Anchor : text.Insert(end, Anchor));
    }
}
