namespace MimoSharp.Tensors;

/// <summary>
/// This machine's last-level cache, as Linux describes it under <c>/sys/devices/system/cpu/cpu0/cache</c>: a decode
/// step whose weights and KV fit there reads them at the cache's bandwidth, not DRAM's (the default model's 9 MB sit in
/// a 32 MB L3), which the roofline has to know (<see cref="Inference.DecodeRoofline"/>).
/// </summary>
public static class CacheLevels
{
    private static readonly Lazy<long> s_lastLevelBytes = new(() => ReadLastLevelBytes("/sys/devices/system/cpu/cpu0/cache"));

    /// <summary>Bytes of the highest cache level cpu0 reports; 0 where the system does not say (not Linux, no sysfs).</summary>
    public static long LastLevelBytes => s_lastLevelBytes.Value;

    /// <summary>Reads the size of the highest-level cache described under <paramref name="directory"/> (index*/level, index*/size).</summary>
    public static long ReadLastLevelBytes(string directory)
    {
        if (!Directory.Exists(directory)) return 0;
        int bestLevel = 0;
        long bestBytes = 0;
        foreach (var index in Directory.EnumerateDirectories(directory, "index*"))
        {
            try
            {
                if (!int.TryParse(File.ReadAllText(Path.Combine(index, "level")).Trim(), out int level)) continue;
                long bytes = ParseSize(File.ReadAllText(Path.Combine(index, "size")).Trim());
                if (bytes > 0 && (level > bestLevel || (level == bestLevel && bytes > bestBytes))) (bestLevel, bestBytes) = (level, bytes);
            }
            catch (IOException)
            {
                // An entry without level or size (some virtual machines) says nothing; the others still count.
            }
        }
        return bestBytes;
    }

    /// <summary>sysfs sizes: "32768K", "1M", or plain bytes; 0 when unreadable.</summary>
    public static long ParseSize(string text)
    {
        if (text.Length == 0) return 0;
        long unit = char.ToUpperInvariant(text[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 };
        string digits = unit == 1 ? text : text[..^1];
        return long.TryParse(digits, out long n) && n > 0 ? n * unit : 0;
    }
}
