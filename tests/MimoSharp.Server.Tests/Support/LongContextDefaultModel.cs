using System.Text.Json.Nodes;

namespace MimoSharp.Server.Tests.Support;

/// <summary>
/// The shipped default model with max_position_embeddings raised to 65,536, for requests that must still be running
/// when a test acts however fast this machine decodes. The weights and tokenizer are linked, not copied; only
/// config.json differs. One directory per test process, made on first use.
/// </summary>
internal static class LongContextDefaultModel
{
    public const int ContextLength = 65_536;

    private static readonly Lazy<string> Made = new(Make);

    public static string Dir => Made.Value;

    private static string Make()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"mimo-default-64k-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        foreach (string file in Directory.GetFiles(BrowserFixture.DefaultModelDir))
        {
            string target = Path.Combine(dir, Path.GetFileName(file));
            if (Path.GetFileName(file) == "config.json" || File.Exists(target)) continue;
            File.CreateSymbolicLink(target, file);
        }
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(BrowserFixture.DefaultModelDir, "config.json")))!.AsObject();
        config["max_position_embeddings"] = ContextLength;
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        return dir;
    }
}
