using System.Buffers.Binary;
using System.Text;

namespace MimoSharp.Fuzz;

/// <summary>
/// Seeded, structure-blind mutations with a bias towards what breaks readers of length-prefixed binary and JSON
/// formats: length and offset fields set to boundary values, numbers in text replaced by huge, negative or
/// off-by-one ones, truncation, duplicated and deleted chunks, and splices of two seeds. The same seed always
/// gives the same inputs, so a test run is reproducible and a finding can be named by its seed and index.
/// </summary>
public sealed class Mutator(int seed)
{
    private readonly Random _rng = new(seed);

    private static readonly long[] Interesting =
    [
        0, 1, -1, 2, 7, 8, 16, 127, 128, 255, 256, 4095, 4096, 65535, 65536,
        int.MaxValue, int.MinValue, uint.MaxValue, (long)int.MaxValue + 1, long.MaxValue, long.MinValue, 1L << 40,
    ];

    private static readonly string[] InterestingText =
    [
        "0", "-1", "1", "2147483647", "2147483648", "4294967296", "-2147483649", "9223372036854775807", "99999999999999999999",
        "1e309", "-0", "0.5", "NaN", "null", "true", "\"\"", "[]", "{}", "[[]]", "\"\\ud800\"", "\"\\u0000\"",
    ];

    /// <summary>One mutated input: 1–4 stacked mutations of a seed chosen from <paramref name="seeds"/>.</summary>
    public byte[] Next(IReadOnlyList<byte[]> seeds)
    {
        var data = new List<byte>(seeds[_rng.Next(seeds.Count)]);
        int count = 1 + _rng.Next(4);
        for (int i = 0; i < count; i++) Mutate(data, seeds);
        return data.ToArray();
    }

    private void Mutate(List<byte> data, IReadOnlyList<byte[]> seeds)
    {
        if (data.Count == 0)
        {
            data.Add((byte)_rng.Next(256));
            return;
        }
        switch (_rng.Next(10))
        {
            case 0: // flip one bit
                data[_rng.Next(data.Count)] ^= (byte)(1 << _rng.Next(8));
                break;
            case 1: // one byte to a boundary value
                data[_rng.Next(data.Count)] = (byte)Interesting[_rng.Next(11)];
                break;
            case 2: // a 4- or 8-byte little-endian field to a boundary value, near the front where headers live
            {
                int width = _rng.Next(2) == 0 ? 4 : 8;
                if (data.Count < width) break;
                int at = Front(data.Count - width + 1);
                long v = Interesting[_rng.Next(Interesting.Length)] + _rng.Next(-2, 3);
                Span<byte> field = stackalloc byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(field, v);
                for (int j = 0; j < width; j++) data[at + j] = field[j];
                break;
            }
            case 3: // a number in text to a boundary value (JSON lengths, shapes, offsets, ids)
                ReplaceNumber(data);
                break;
            case 4: // truncate
            {
                int keep = _rng.Next(data.Count);
                data.RemoveRange(keep, data.Count - keep);
                break;
            }
            case 5: // delete a chunk
            {
                int at = _rng.Next(data.Count), n = Math.Min(data.Count - at, 1 + _rng.Next(64));
                data.RemoveRange(at, n);
                break;
            }
            case 6: // duplicate a chunk
            {
                int at = _rng.Next(data.Count), n = Math.Min(data.Count - at, 1 + _rng.Next(64));
                data.InsertRange(_rng.Next(data.Count + 1), data.GetRange(at, n));
                break;
            }
            case 7: // insert random bytes or a token of JSON
            {
                byte[] insert = _rng.Next(2) == 0
                    ? Encoding.UTF8.GetBytes(InterestingText[_rng.Next(InterestingText.Length)])
                    : Enumerable.Range(0, 1 + _rng.Next(8)).Select(_ => (byte)_rng.Next(256)).ToArray();
                data.InsertRange(Front(data.Count + 1), insert);
                break;
            }
            case 8: // splice: the front of this input with the back of another seed
            {
                var other = seeds[_rng.Next(seeds.Count)];
                int cut = _rng.Next(data.Count), from = other.Length == 0 ? 0 : _rng.Next(other.Length);
                data.RemoveRange(cut, data.Count - cut);
                data.AddRange(other.AsSpan(from).ToArray());
                break;
            }
            default: // swap two bytes of structure: quotes, brackets, commas, colons
            {
                int a = Front(data.Count), b = Front(data.Count);
                (data[a], data[b]) = (data[b], data[a]);
                break;
            }
        }
    }

    /// <summary>An offset biased towards the first 4 KiB, where headers, metadata and JSON keys live.</summary>
    private int Front(int count) => _rng.Next(3) == 0 ? _rng.Next(count) : _rng.Next(Math.Min(count, 4096));

    private void ReplaceNumber(List<byte> data)
    {
        int start = Front(data.Count);
        int i = start;
        while (i < data.Count && !IsDigit(data[i])) i++;
        if (i == data.Count) return;
        int end = i;
        while (end < data.Count && (IsDigit(data[end]) || data[end] is (byte)'.' or (byte)'e' or (byte)'E' or (byte)'-' or (byte)'+')) end++;
        string replacement = _rng.Next(3) switch
        {
            0 => InterestingText[_rng.Next(9)],
            1 => (long.TryParse(Encoding.ASCII.GetString(data.GetRange(i, end - i).ToArray()), out long v) ? v + _rng.Next(-2, 3) : 0).ToString(),
            _ => (Interesting[_rng.Next(Interesting.Length)]).ToString(),
        };
        data.RemoveRange(i, end - i);
        data.InsertRange(i, Encoding.ASCII.GetBytes(replacement));
    }

    private static bool IsDigit(byte b) => b is >= (byte)'0' and <= (byte)'9';
}
