namespace ActorCluster.Cli.Chaos;

/// <summary>
/// The state of one key as a linearizable register with versions. The version is the log index
/// of the last write; after a write whose outcome is unknown took effect, its version is not known
/// either, only that it is above <see cref="Version"/> (<see cref="Exact"/> is false) — until a later
/// operation reveals it.
/// </summary>
public readonly record struct RegisterState(string? Value, ulong Version, bool Exact)
{
    public static readonly RegisterState Initial = new(null, 0, true);
}

/// <summary>
/// Sequential specification of a key: read, write (put) and compare-and-swap on the version.
/// <see cref="Step"/> says whether an operation, applied to a state, could have produced its
/// recorded result, and the state after it.
/// </summary>
public static class RegisterModel
{
    public static bool Step(RegisterState state, Operation op, out RegisterState next)
    {
        ArgumentNullException.ThrowIfNull(op);
        next = state;
        switch (op.Function)
        {
            case "read":
                // A read returns the value and its version; null value with version 0: absent.
                if (op.Output != state.Value)
                {
                    return false;
                }

                if (state.Exact)
                {
                    return op.Version == state.Version;
                }

                if (op.Version is not { } seen || seen <= state.Version)
                {
                    return false;
                }

                next = state with { Version = seen, Exact = true };
                return true;

            case "write":
                if (op.IsUnknown)
                {
                    next = new RegisterState(op.Input, state.Version, Exact: false);
                    return true;
                }

                // Versions only grow.
                if (op.Version is not { } written || written <= state.Version)
                {
                    return false;
                }

                next = new RegisterState(op.Input, written, Exact: true);
                return true;

            case "cas":
                var expected = op.Expected ?? 0;
                var matches = state.Exact ? state.Version == expected : expected > state.Version;
                if (!matches)
                {
                    return false;
                }

                if (op.IsUnknown)
                {
                    next = new RegisterState(op.Input, expected, Exact: false);
                    return true;
                }

                if (op.Version is not { } swapped || swapped <= expected)
                {
                    return false;
                }

                next = new RegisterState(op.Input, swapped, Exact: true);
                return true;

            default:
                throw new ArgumentException($"Unknown register function '{op.Function}'.", nameof(op));
        }
    }
}
