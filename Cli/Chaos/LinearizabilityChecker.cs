using System.Collections;
using System.Diagnostics;

namespace ActorCluster.Cli.Chaos;

/// <summary>The checker's verdict for one key or a whole history.</summary>
public enum Verdict
{
    Linearizable,
    NotLinearizable,

    /// <summary>The search ran out of time: neither proven nor refuted.</summary>
    Unknown,
}

/// <summary>The result for one key, with the operations involved when it is not linearizable.</summary>
public sealed record KeyResult(string Key, Verdict Verdict, int Operations, string? Explanation);

/// <summary>
/// Decides whether a history of register operations is linearizable, key by key (P-compositionality:
/// a history is linearizable iff each key's sub-history is). Per key it runs the Wing &amp; Gong
/// search with Lowe's memoization, as Porcupine and Knossos do: walk the events in time order,
/// linearize a called operation if the model accepts it, backtrack when a completed operation could
/// not be placed before its return, and never revisit a (linearized set, state) pair. Operations
/// with unknown outcomes may take effect at any point after their call, or not at all.
/// </summary>
public static class LinearizabilityChecker
{
    public static IReadOnlyList<KeyResult> Check(IEnumerable<Operation> operations, TimeSpan budgetPerKey)
    {
        ArgumentNullException.ThrowIfNull(operations);
        return [.. operations.GroupBy(o => o.Key).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => CheckKey(g.Key, [.. g], budgetPerKey))];
    }

    public static KeyResult CheckKey(string key, List<Operation> operations, TimeSpan budget)
    {
        ArgumentNullException.ThrowIfNull(operations);
        // Dense ids for this key's operations: they index the linearized set.
        operations = [.. operations.Select((op, i) => op with { Id = i })];
        var entries = BuildEntries(operations);
        var clock = Stopwatch.StartNew();
        var cache = new HashSet<(BitKey, RegisterState)>();
        var linearized = new BitArray(operations.Count);
        var stack = new Stack<(Entry Call, RegisterState Previous)>();
        var state = RegisterState.Initial;
        var entry = entries.Next;
        var remaining = operations.Count(o => !o.IsUnknown);
        var steps = 0L;
        Operation? stuckAt = null;
        while (true)
        {
            if (remaining == 0)
            {
                // Every completed operation is placed; unknown ones may simply not have happened.
                return new KeyResult(key, Verdict.Linearizable, operations.Count, null);
            }

            if ((++steps & 0x3FF) == 0 && clock.Elapsed > budget)
            {
                return new KeyResult(key, Verdict.Unknown, operations.Count, $"no verdict within {budget.TotalSeconds:0.#}s");
            }

            if (entry is { IsCall: true })
            {
                var op = entry.Operation;
                if (RegisterModel.Step(state, op, out var next))
                {
                    linearized[op.Id] = true;
                    if (cache.Add((new BitKey(linearized), next)))
                    {
                        stack.Push((entry, state));
                        state = next;
                        entry.Lift();
                        remaining -= op.IsUnknown ? 0 : 1;
                        entry = entries.Next;
                        continue;
                    }

                    linearized[op.Id] = false;
                }

                entry = entry.Next;
                continue;
            }

            // A completed operation's return came before it could be linearized: undo the last choice.
            if (entry is not null)
            {
                stuckAt ??= entry.Operation;
            }

            if (stack.Count == 0)
            {
                return new KeyResult(key, Verdict.NotLinearizable, operations.Count, Explain(stuckAt, state));
            }

            var (call, previous) = stack.Pop();
            linearized[call.Operation.Id] = false;
            state = previous;
            call.Unlift();
            remaining += call.Operation.IsUnknown ? 0 : 1;
            entry = call.Next;
        }
    }

    private static string Explain(Operation? op, RegisterState state) => op is null
        ? "no linearization"
        : $"no order of the operations explains {op.Function}({op.Input ?? "-"}{(op.Expected is { } e ? $", expected v{e}" : string.Empty)}) by process {op.Process} " +
          $"returning {op.Output ?? "null"} v{op.Version} (last tried state: {state.Value ?? "null"} v{state.Version}{(state.Exact ? string.Empty : "+")})";

    /// <summary>A doubly linked list of call and return events in time order, calls first at equal times.</summary>
    private static Entry BuildEntries(List<Operation> operations)
    {
        var events = new List<(long Time, int Order, Entry Entry)>();
        foreach (var op in operations)
        {
            var call = new Entry(op, isCall: true);
            events.Add((op.Call, 0, call));
            if (!op.IsUnknown)
            {
                var ret = new Entry(op, isCall: false);
                call.Match = ret;
                events.Add((op.Return, 1, ret));
            }
        }

        events.Sort((a, b) => a.Time != b.Time ? a.Time.CompareTo(b.Time) : a.Order.CompareTo(b.Order));
        var head = new Entry(null!, isCall: false);
        var tail = head;
        foreach (var (_, _, e) in events)
        {
            tail.Next = e;
            e.Previous = tail;
            tail = e;
        }

        return head;
    }

    private sealed class Entry(Operation operation, bool isCall)
    {
        public Operation Operation { get; } = operation;

        public bool IsCall { get; } = isCall;

        public Entry? Match { get; set; }

        public Entry? Previous { get; set; }

        public Entry? Next { get; set; }

        /// <summary>Removes this call and its return from the list.</summary>
        public void Lift()
        {
            Unlink(this);
            if (Match is not null)
            {
                Unlink(Match);
            }
        }

        /// <summary>Puts them back where they were (in reverse order of removal).</summary>
        public void Unlift()
        {
            if (Match is not null)
            {
                Relink(Match);
            }

            Relink(this);
        }

        private static void Unlink(Entry e)
        {
            e.Previous!.Next = e.Next;
            if (e.Next is not null)
            {
                e.Next.Previous = e.Previous;
            }
        }

        private static void Relink(Entry e)
        {
            e.Previous!.Next = e;
            if (e.Next is not null)
            {
                e.Next.Previous = e;
            }
        }
    }

    /// <summary>An immutable copy of the linearized set, for the memo table.</summary>
    private readonly struct BitKey : IEquatable<BitKey>
    {
        private readonly int[] _words;
        private readonly int _hash;

        public BitKey(BitArray bits)
        {
            _words = new int[(bits.Length + 31) / 32];
            bits.CopyTo(_words, 0);
            var hash = default(HashCode);
            foreach (var word in _words)
            {
                hash.Add(word);
            }

            _hash = hash.ToHashCode();
        }

        public bool Equals(BitKey other) => _hash == other._hash && _words.AsSpan().SequenceEqual(other._words);

        public override bool Equals(object? obj) => obj is BitKey other && Equals(other);

        public override int GetHashCode() => _hash;
    }
}
