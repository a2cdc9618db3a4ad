using System.CommandLine;
using System.Text;
using System.Text.Json;
using MimoSharp.Text;

namespace MimoSharp.Cli.Commands;

/// <summary>
/// `mimo tokenize`, `mimo detokenize` and `mimo tokenizer truncate`. Add them to the root command with
/// <c>foreach (Command c in TextCommands.Create()) root.Subcommands.Add(c);</c>
/// </summary>
public static class TextCommands
{
    public static IEnumerable<Command> Create() => [CreateTokenize(), CreateDetokenize(), CreateTokenizerGroup()];

    public static Command CreateTokenize()
    {
        var model = new Option<string>("--model") { Description = "Model directory holding tokenizer.json" };
        var tokenizer = new Option<string>("--tokenizer") { Description = "Path of a tokenizer.json" };
        var text = new Option<string>("--text") { Description = "Text to tokenize" };
        var textFile = new Option<string>("--text-file") { Description = "File to tokenize exactly as stored (UTF-8; no BOM stripping or newline translation)" };
        var plain = new Option<bool>("--plain") { Description = "Treat added/special tokens in the text as plain text" };
        var command = new Command("tokenize", "Print the token ids of a text as a JSON array");
        foreach (Option o in new Option[] { model, tokenizer, text, textFile, plain }) command.Options.Add(o);
        command.SetAction(parse => Run(parse, () =>
        {
            Tokenizer tok = LoadTokenizer(parse.GetValue(model), parse.GetValue(tokenizer));
            string input = ReadInput(parse.GetValue(text), parse.GetValue(textFile));
            int[] ids = tok.Encode(input, parseSpecial: !parse.GetValue(plain));
            parse.InvocationConfiguration.Output.WriteLine("[" + string.Join(",", ids) + "]");
        }));
        return command;
    }

    public static Command CreateDetokenize()
    {
        var model = new Option<string>("--model") { Description = "Model directory holding tokenizer.json" };
        var tokenizer = new Option<string>("--tokenizer") { Description = "Path of a tokenizer.json" };
        var ids = new Option<string>("--ids") { Description = "Token ids as a JSON array, e.g. [9707,1879]" };
        var idsFile = new Option<string>("--ids-file") { Description = "File holding token ids as a JSON array" };
        var skipSpecial = new Option<bool>("--skip-special") { Description = "Leave out special tokens such as <|im_end|>" };
        var command = new Command("detokenize", "Print the text of a JSON array of token ids (no newline is added)");
        foreach (Option o in new Option[] { model, tokenizer, ids, idsFile, skipSpecial }) command.Options.Add(o);
        command.SetAction(parse => Run(parse, () =>
        {
            Tokenizer tok = LoadTokenizer(parse.GetValue(model), parse.GetValue(tokenizer));
            string? inline = parse.GetValue(ids);
            string? file = parse.GetValue(idsFile);
            if ((inline is null) == (file is null)) throw new UsageException("Give exactly one of --ids or --ids-file.");
            string json = inline ?? File.ReadAllText(file!);
            int[] parsed;
            try
            {
                parsed = JsonSerializer.Deserialize<int[]>(json) ?? [];
            }
            catch (JsonException e)
            {
                throw new UsageException($"{(inline is null ? $"--ids-file '{file}'" : "--ids")} is not a JSON array of integers: {e.Message}");
            }
            parse.InvocationConfiguration.Output.Write(tok.Decode(parsed, parse.GetValue(skipSpecial)));
        }));
        return command;
    }

    public static Command CreateTokenizerGroup()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "Path of the byte-level BPE tokenizer.json to cut down", Required = true };
        var vocab = new Option<int>("--vocab") { Description = "BPE ids to keep: the 256 bytes and the first N-256 merges", Required = true };
        var output = new Option<string>("--out") { Description = "Where to write the smaller tokenizer.json", Required = true };
        var truncate = new Command("truncate",
            "Write the lossless prefix of a byte-level BPE: ids 0..N-1 keep their meaning, added tokens get N, N+1, ... (vocab_size = N + added tokens)");
        foreach (Option o in new Option[] { tokenizer, vocab, output }) truncate.Options.Add(o);
        truncate.SetAction(parse => Run(parse, () =>
        {
            int n = parse.GetValue(vocab);
            string outPath = parse.GetValue(output)!;
            TokenizerTruncation.TruncateFile(parse.GetValue(tokenizer)!, n, outPath);
            Tokenizer written = Tokenizer.FromFile(outPath);
            parse.InvocationConfiguration.Output.WriteLine(
                $"wrote {outPath}: {n} BPE ids + {written.AddedTokens.Count} added tokens = vocab_size {written.VocabSize}");
        }));
        var group = new Command("tokenizer", "Tokenizer file tools");
        group.Subcommands.Add(truncate);
        return group;
    }

    private static Tokenizer LoadTokenizer(string? modelDir, string? tokenizerFile)
    {
        if ((modelDir is null) == (tokenizerFile is null)) throw new UsageException("Give exactly one of --model DIR or --tokenizer FILE.");
        string path = tokenizerFile ?? Path.Combine(modelDir!, "tokenizer.json");
        if (!File.Exists(path))
            throw new UsageException(tokenizerFile is null ? $"--model: '{modelDir}' has no tokenizer.json." : $"--tokenizer: '{path}' does not exist.");
        return Tokenizer.FromFile(path);
    }

    private static string ReadInput(string? text, string? textFile)
    {
        if ((text is null) == (textFile is null)) throw new UsageException("Give exactly one of --text or --text-file.");
        if (text is not null) return text;
        if (!File.Exists(textFile)) throw new UsageException($"--text-file: '{textFile}' does not exist.");
        // GetString keeps a leading BOM as U+FEFF and leaves line endings alone: the file exactly as stored.
        return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetString(File.ReadAllBytes(textFile));
    }

    private static int Run(ParseResult parse, Action action)
    {
        try
        {
            action();
            return 0;
        }
        catch (Exception e) when (e is UsageException or InvalidDataException or IOException or ArgumentException)
        {
            parse.InvocationConfiguration.Error.WriteLine("error: " + e.Message);
            return e is UsageException ? 2 : 1;
        }
    }

    private sealed class UsageException(string message) : Exception(message);
}
