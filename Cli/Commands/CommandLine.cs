using System.Globalization;

namespace ActorCluster.Cli;

/// <summary>Positional arguments and <c>--name value</c> / <c>--flag</c> options, nothing more.</summary>
internal sealed class CommandLine
{
    private static readonly HashSet<string> Flags = ["--json", "--stale", "--stale-reads", "--delete", "--watch", "--help", "-h"];
    private readonly Dictionary<string, List<string>> _options = new(StringComparer.Ordinal);

    public CommandLine(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg.StartsWith('-') && arg.Length > 1 && !double.TryParse(arg, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            {
                var equals = arg.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0)
                {
                    Add(arg[..equals], arg[(equals + 1)..]);
                }
                else if (Flags.Contains(arg))
                {
                    Add(arg, "true");
                }
                else if (i + 1 < args.Length)
                {
                    Add(arg, args[++i]);
                }
                else
                {
                    throw new UsageException($"option {arg} needs a value");
                }
            }
            else
            {
                Positional.Add(arg);
            }
        }
    }

    public List<string> Positional { get; } = [];

    public bool Has(string name) => _options.ContainsKey(name);

    public string? Value(string name) => _options.TryGetValue(name, out var values) ? values[^1] : null;

    public IEnumerable<string> Values(string name) => _options.TryGetValue(name, out var values) ? values : [];

    public int Int(string name, int fallback, int min, int max)
    {
        if (Value(name) is not { } text)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new UsageException($"{name} must be a whole number from {min} to {max} (was '{text}')");
        }

        return value;
    }

    /// <summary>A duration such as 10s, 500ms, 2m or a number of seconds.</summary>
    public TimeSpan Duration(string name, TimeSpan fallback)
    {
        if (Value(name) is not { } text)
        {
            return fallback;
        }

        var (number, unit) = text.EndsWith("ms", StringComparison.Ordinal) ? (text[..^2], 0.001)
            : text.EndsWith('s') ? (text[..^1], 1.0)
            : text.EndsWith('m') ? (text[..^1], 60.0)
            : (text, 1.0);
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value <= 0 || value * unit > 86_400)
        {
            throw new UsageException($"{name} must be a duration such as 10s, 500ms or 2m (was '{text}')");
        }

        return TimeSpan.FromSeconds(value * unit);
    }

    /// <summary>Refuses any option not in <paramref name="allowed"/> (help flags always pass).</summary>
    public void RefuseOtherOptions(IReadOnlyCollection<string> allowed, string command)
    {
        foreach (var name in _options.Keys)
        {
            if (!allowed.Contains(name) && name is not ("--help" or "-h"))
            {
                throw new UsageException($"unknown option {name} for '{command}'");
            }
        }
    }

    public string Positional1(int index, string what) =>
        index < Positional.Count ? Positional[index] : throw new UsageException($"missing {what}");

    private void Add(string name, string value)
    {
        if (!_options.TryGetValue(name, out var values))
        {
            _options[name] = values = [];
        }

        values.Add(value);
    }
}

/// <summary>The command line was not understood.</summary>
internal sealed class UsageException(string message) : Exception(message);
