using MimoSharp.Tensors;

namespace MimoSharp.Tests.Tensors;

/// <summary>The 16-bit float rows of a KV cache: every pattern widens exactly, and encoding rounds to nearest even.</summary>
public sealed class HalfFloatsTests
{
    [Fact]
    public void EveryBinary16PatternWidensToTheValueDotNetsHalfHas()
    {
        var patterns = Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();
        var wide = new float[patterns.Length];
        HalfFloats.Decode(patterns, wide, HalfFormat.F16);   // 8 at a time, the last ones by the scalar tail
        for (int i = 0; i < patterns.Length; i++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf(patterns[i]);
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(wide[i]), $"pattern {i:X4} is a NaN");
            else Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(wide[i]));
        }
    }

    [Fact]
    public void EveryBfloat16PatternWidensToItsFloat32()
    {
        var patterns = Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();
        var wide = new float[patterns.Length + 3];
        HalfFloats.Decode(patterns.AsSpan(3), wide, HalfFormat.BF16);   // an odd length: the scalar tail runs too
        for (int i = 3; i < patterns.Length; i++)
            Assert.Equal(patterns[i] << 16, BitConverter.SingleToInt32Bits(wide[i - 3]));
    }

    [Fact]
    public void AValueBeyondTheBinary16RangeIsRefusedNamingTheRemedy()
    {
        var bits = new ushort[2];
        var e = Assert.Throws<OverflowException>(() => HalfFloats.Encode([1f, -70000f], bits, HalfFormat.F16));
        Assert.Contains("--kv-cache bf16", e.Message);
        Assert.Throws<OverflowException>(() => HalfFloats.Round([70000f], HalfFormat.F16));
        HalfFloats.Encode([1f, -70000f], bits, HalfFormat.BF16);   // bfloat16 has float32's range
        Assert.Equal(-70144f, BFloat16.ToFloat(bits[1]));
    }

    [Theory]
    [InlineData(HalfFormat.BF16)]
    [InlineData(HalfFormat.F16)]
    public void EncodingRoundsToTheNearestAndRoundIsEncodeThenDecode(HalfFormat format)
    {
        var random = new Random(5);
        float[] x = [.. Enumerable.Range(0, 1001).Select(_ => (float)((random.NextDouble() - 0.5) * Math.Pow(2, random.Next(-20, 15))))];
        var bits = new ushort[x.Length];
        HalfFloats.Encode(x, bits, format);
        var back = new float[x.Length];
        HalfFloats.Decode(bits, back, format);
        var rounded = (float[])x.Clone();
        HalfFloats.Round(rounded, format);
        Assert.Equal(back, rounded);
        double relative = format == HalfFormat.BF16 ? 1.0 / 256 : 1.0 / 2048;   // half a unit in the last place
        for (int i = 0; i < x.Length; i++)
            if (Math.Abs(x[i]) > 1e-4)   // above f16's subnormals
                Assert.InRange(Math.Abs(back[i] - x[i]), 0, Math.Abs(x[i]) * relative);
        // Ties go to even: 1 + 2^-8 lies halfway between two bfloat16 values and rounds down to 1.
        HalfFloats.Encode([1f + MathF.Pow(2, -8), 1f + 3 * MathF.Pow(2, -8)], bits, HalfFormat.BF16);
        Assert.Equal([(ushort)0x3F80, (ushort)0x3F82], bits[..2]);
    }
}
