using System.Text;
using ActorCluster.Grains.Interfaces.Kv;

namespace ActorCluster.Tests.Kv;

/// <summary>What keys and values the client and the silo accept.</summary>
public sealed class KeyRulesTests
{
    // Built in code: attribute arguments are stored as UTF-8, which would replace lone surrogates.
    private static readonly string[] IllFormed = ["a\uD800", "\uDC00b", "x\uD800y", "\uDBFF\uDBFF\uDC00"];

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void A_key_with_a_lone_surrogate_is_refused(int which)
    {
        var error = KeyRules.ValidateKey(IllFormed[which]);
        Assert.NotNull(error);
        Assert.Contains("lone surrogate", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Lone_surrogates_would_alias_after_UTF8_encoding()
    {
        // Why they are refused: both become U+FFFD, so two keys would name one stored key.
        Assert.Equal(Encoding.UTF8.GetBytes("a\uD800"), Encoding.UTF8.GetBytes("a\uDBFF"));
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("emoji-\U0001F600-pair")]
    [InlineData("é-ü-中")]
    public void Well_formed_keys_pass(string key) => Assert.Null(KeyRules.ValidateKey(key));

    [Fact]
    public void Limits_are_counted_in_UTF8_bytes()
    {
        Assert.Null(KeyRules.ValidateKey(new string('é', KeyRules.MaxKeyBytes / 2)));
        Assert.NotNull(KeyRules.ValidateKey(new string('é', (KeyRules.MaxKeyBytes / 2) + 1)));
        Assert.Null(KeyRules.ValidateValue(new byte[KeyRules.MaxValueBytes]));
        Assert.NotNull(KeyRules.ValidateValue(new byte[KeyRules.MaxValueBytes + 1]));
    }
}
