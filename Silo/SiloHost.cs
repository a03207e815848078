using System.Net;
using ActorCluster.Grains.Hosting;
using ActorCluster.Grains.Replicas;
using ActorCluster.Grains.Storage;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using OpenTelemetry;
using Orleans.Configuration;
using Orleans.Dashboard;

namespace ActorCluster.Silo;

/// <summary>Builds one silo: Orleans, ActorCluster, Dashboard, health, metrics and tracing.</summary>
internal static class SiloHost
{
    /// <summary>The endpoints a silo listens on.</summary>
    public sealed record Endpoints(string Name, int SiloPort, int GatewayPort, int HttpPort, int PrimarySiloPort);

    public static WebApplication Build(IConfiguration configuration, SiloSettings settings, StorageOptions storage, Endpoints endpoints, StoreIncarnation incarnation)
    {
        ArgumentNullException.ThrowIfNull(incarnation);
        var store = incarnation.Store;
        var identity = incarnation.Identity;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        // A copy, not a chain: settings written into one silo's configuration must not leak into another's.
        builder.Configuration.AddInMemoryCollection(configuration.AsEnumerable());
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.FormatterName = SiloConsoleFormatter.Name)
            .AddConsoleFormatter<SiloConsoleFormatter, SiloConsoleFormatterOptions>(o => o.SiloName = endpoints.Name);
        if (endpoints.HttpPort > 0)
        {
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenAnyIP(endpoints.HttpPort));
        }
        else
        {
            // No web endpoint at all (Kestrel would otherwise listen on its default port 5000).
            builder.WebHost.UseServer(new NoHttpServer());
        }

        var clusterId = configuration["ActorCluster:ClusterId"] ?? "actorcluster";
        var serviceId = configuration["ActorCluster:ServiceId"] ?? "actorcluster";
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = clusterId;
                o.ServiceId = serviceId;
            });
            silo.Configure<SiloOptions>(o => o.SiloName = endpoints.Name);
            // Failure detection can be tuned (faster in fault tests) under Orleans:ClusterMembership.
            silo.Configure<ClusterMembershipOptions>(configuration.GetSection("Orleans:ClusterMembership"));
            if (settings.Kubernetes)
            {
                silo.UseKubernetesHosting();
            }

            if (settings.Clustering == ClusteringKind.Localhost)
            {
                silo.UseLocalhostClustering(endpoints.SiloPort, endpoints.GatewayPort, new IPEndPoint(IPAddress.Loopback, endpoints.PrimarySiloPort), serviceId, clusterId);
            }
            else
            {
                silo.UseActorClusterPostgresClustering(storage.ConnectionString!);
                if (!settings.Kubernetes)
                {
                    var address = settings.AdvertisedAddress is { Length: > 0 } advertised ? IPAddress.Parse(advertised) : IPAddress.Loopback;
                    silo.ConfigureEndpoints(address, endpoints.SiloPort, endpoints.GatewayPort, listenOnAnyHostAddress: true);
                }
            }

            if (ActorClusterSiloBuilderExtensions.Bind<ActorCluster.Grains.Interfaces.Configuration.TlsSettings>(configuration, ActorCluster.Grains.Interfaces.Configuration.TlsSettings.Section, _ => { }) is { Enabled: true } tls)
            {
                // Silo-to-silo and client-to-gateway connections: mutual TLS with pinned certificates.
                silo.UseClusterTls(tls, tls.LoadCertificate());
            }

            silo.AddActorCluster(configuration, store, identity, storage);
            if (settings.Dashboard)
            {
                silo.AddDashboard();
            }
        });

        // The store's incarnation is raised while the silo runs: a backup of it restored later is told apart.
        builder.Services.AddSingleton(incarnation);
        builder.Services.AddHostedService<ActorCluster.Grains.Hosting.StoreIncarnationRenewal>();
        builder.Services.AddSingleton<RaftViewSource>();
        builder.Services.AddSingleton<SiloReadiness>();
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<SiloReadiness>());
        var telemetry = builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddMeter("Microsoft.Orleans", ReplicaMetrics.MeterName)
                .AddRuntimeInstrumentation()
                .AddPrometheusExporter());
        if (!string.IsNullOrEmpty(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            // Traces only when there is somewhere to send them: recording an activity for every
            // grain call costs CPU whether or not anyone reads it.
            telemetry
                .WithTracing(tracing => tracing
                    .AddSource("Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application", Tracing.SourceName)
                    .SetSampler(new ParentBasedSampler(new BackgroundTrafficSampler())))
                .UseOtlpExporter();
        }

        var app = builder.Build();
        if (settings.FaultInjection)
        {
            app.Logger.LogWarning(
                "FAULT INJECTION IS ON for silo {Silo}: anyone who reaches http://*:{Port}/faults can cut this silo's Raft traffic. For fault tests only; never in production.",
                endpoints.Name, endpoints.HttpPort);
        }

        // With a token configured, every endpoint but the probes (and the scrape, unless protected)
        // asks for it; a browser is asked for it as basic authentication's password.
        var access = new ActorCluster.Grains.Hosting.HttpAccess(settings.HttpToken, settings.ProtectMetrics);
        if (access.Protected)
        {
            app.Use(async (context, next) =>
            {
                if (access.Allows(context.Request.Path.Value ?? "/", context.Request.Headers.Authorization.ToString() is { Length: > 0 } header ? header : null))
                {
                    await next(context);
                    return;
                }

                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = $"Basic realm=\"{ActorCluster.Grains.Hosting.HttpAccess.Realm}\", charset=\"UTF-8\"";
            });
        }

        // A store whose writer stopped cannot persist anything: the silo is not healthy (Kubernetes
        // restarts it) and not ready.
        IResult StoreProblem() => Results.Text($"the replica store failed: {(store as AdoReplicaStore)?.Fault?.Message}", statusCode: StatusCodes.Status503ServiceUnavailable);
        bool StoreFailed() => store is AdoReplicaStore { Fault: not null };
        app.MapGet("/healthz", () => StoreFailed() ? StoreProblem() : Results.Text("ok"));
        app.MapGet("/readyz", (SiloReadiness readiness) => StoreFailed() ? StoreProblem() : readiness.IsReady ? Results.Text("ready") : Results.StatusCode(StatusCodes.Status503ServiceUnavailable));
        // Which store this silo holds: a silo restarted on an empty data directory answers a new id.
        // And what its writers have done: an operator sees a disk that refuses writes, and a fault
        // test confirms the disk faults it injects.
        app.MapGet("/store", () =>
        {
            var writes = (store as AdoReplicaStore)?.WriteStatus();
            return Results.Json(new
            {
                cluster = identity.ClusterId,
                store = identity.StoreHex,
                name = endpoints.Name,
                transactions = writes?.Transactions,
                writes_refused = writes?.WritesRefused,
                writes_failed = writes?.WritesFailed,
                last_write_error = writes?.LastWriteError,
                free_bytes = writes?.FreeBytes,
                min_free_bytes = writes?.MinFreeBytes,
                stalled_writers = writes?.StalledWriters,
            });
        });
        app.MapPrometheusScrapingEndpoint("/metrics");
        RaftViewSource.Map(app);
        if (settings.FaultInjection)
        {
            app.MapPut("/faults/partition", (string? block, NetworkFaults faults) =>
            {
                faults.Block((block ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                return Results.Text($"dropping Raft messages from: {string.Join(", ", faults.Blocked)}");
            });
            app.MapDelete("/faults/partition", (NetworkFaults faults) =>
            {
                faults.Heal();
                return Results.Text("healed");
            });
            // The store's writes fail (a disk that refuses them) or wait (a disk that hangs) until healed.
            app.MapPut("/faults/disk", (string? mode) =>
            {
                if ((store as AdoReplicaStore)?.Faults is not { } disk)
                {
                    return Results.Text("this store takes no disk faults", statusCode: StatusCodes.Status409Conflict);
                }

                switch (mode)
                {
                    case "fail":
                        disk.FailWrites(_ => new IOException("injected fault: the disk refuses writes"));
                        return Results.Text("failing writes");
                    case "stall":
                        disk.Stall();
                        return Results.Text("stalling writes");
                    default:
                        return Results.Text($"unknown disk fault '{mode}' (fail, stall)", statusCode: StatusCodes.Status400BadRequest);
                }
            });
            app.MapDelete("/faults/disk", () =>
            {
                (store as AdoReplicaStore)?.Faults?.Heal();
                return Results.Text("healed");
            });
            // The process's own clocks, as everything in it reads them: a clock fault injected from
            // outside (a faked rate or a jump) is confirmed by what the silo itself measures.
            app.MapGet("/faults/clock", () => Results.Json(new
            {
                unix_ms = (DateTime.UtcNow - DateTime.UnixEpoch).TotalMilliseconds,
                monotonic_ms = System.Diagnostics.Stopwatch.GetTimestamp() * 1000.0 / System.Diagnostics.Stopwatch.Frequency,
            }));
        }

        if (settings.Dashboard)
        {
            app.UseMiddleware<DashboardLink>();
            app.MapOrleansDashboard(routePrefix: "/dashboard");
            app.MapGet("/", () => Results.Redirect("/dashboard"));
        }
        else
        {
            app.MapGet("/", () => Results.Redirect("/raft"));
        }

        return app;
    }
}

/// <summary>Ready once the silo is active in the cluster; not ready again from the moment it starts to stop.</summary>
internal sealed class SiloReadiness : ILifecycleParticipant<ISiloLifecycle>
{
    private volatile bool _ready;

    public bool IsReady => _ready;

    public void Participate(ISiloLifecycle lifecycle) => lifecycle.Subscribe(
        nameof(SiloReadiness),
        ServiceLifecycleStage.Active,
        _ =>
        {
            _ready = true;
            return Task.CompletedTask;
        },
        _ =>
        {
            _ready = false;
            return Task.CompletedTask;
        });
}

/// <summary>Console log lines prefixed with the silo's name, so three silos in one console stay apart.</summary>
internal sealed class SiloConsoleFormatter(Microsoft.Extensions.Options.IOptionsMonitor<SiloConsoleFormatterOptions> options) : ConsoleFormatter(Name)
{
    public new const string Name = "silo";

    public override void Write<TState>(in Microsoft.Extensions.Logging.Abstractions.LogEntry<TState> logEntry, Microsoft.Extensions.Logging.IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null)
        {
            return;
        }

        var level = logEntry.LogLevel switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
        textWriter.Write($"{DateTime.UtcNow:HH:mm:ss.fff} [{options.CurrentValue.SiloName}] {level}: {logEntry.Category}: {message}");
        if (logEntry.Exception is { } error)
        {
            textWriter.Write($" {error.GetType().Name}: {error.Message}");
        }

        textWriter.WriteLine();
    }
}

internal sealed class SiloConsoleFormatterOptions : ConsoleFormatterOptions
{
    public string SiloName { get; set; } = "silo";
}

/// <summary>The server of a silo without a web endpoint: accepts no connections.</summary>
internal sealed class NoHttpServer : Microsoft.AspNetCore.Hosting.Server.IServer
{
    public Microsoft.AspNetCore.Http.Features.IFeatureCollection Features { get; } = new Microsoft.AspNetCore.Http.Features.FeatureCollection();

    public Task StartAsync<TContext>(Microsoft.AspNetCore.Hosting.Server.IHttpApplication<TContext> application, CancellationToken cancellationToken)
        where TContext : notnull => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
    }
}
