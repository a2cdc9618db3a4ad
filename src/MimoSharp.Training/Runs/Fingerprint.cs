using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MimoSharp.Config;
using MimoSharp.Training.Checkpoints;

namespace MimoSharp.Training.Runs;

/// <summary>
/// How a run writes the settings that shape its trajectory into its state file, so that a resume with other
/// settings is refused by name. The text of every value is part of the on-disk format: runs saved by earlier
/// versions must compare equal.
/// </summary>
public static class Fingerprint
{
    /// <summary>Round-trip text of a number ("R", invariant culture).</summary>
    public static string Of(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    public static string Of(long value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Of(ulong value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Of(bool value) => value ? "true" : "false";

    /// <summary>SHA-256 of the model's config.json as a float32 checkpoint writes it: the model's shape.</summary>
    public static string OfConfig(MimoConfig config) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(NetworkCheckpoint.ConfigJson(config, WeightDType.F32))));

    /// <summary>SHA-256 of a file's bytes (prompt files, tokenizers).</summary>
    public static string OfFile(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
}
