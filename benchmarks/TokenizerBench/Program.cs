// Encoding throughput of MimoSharp.Text.Tokenizer on one thread, in MB/s of UTF-8 input.
// Usage: dotnet run -c Release --project benchmarks/TokenizerBench [-- path/to/tokenizer.json]
// The default tokenizer is the Qwen3 one fetched by scripts/fetch-tokenizer.sh. The corpus mixes English
// prose, code, CJK and emoji, built deterministically so runs compare; it is encoded as one document
// (warm cache, the common case) and as many short unseen strings (cold pieces).
using System.Diagnostics;
using System.Text;
using MimoSharp.Text;

string path = args.Length > 0 ? args[0] : Path.Combine(FindRepoRoot(), ".cache", "qwen3-tokenizer", "tokenizer.json");
var load = Stopwatch.StartNew();
Tokenizer tokenizer = Tokenizer.FromFile(path);
Console.WriteLine($"loaded {path} in {load.ElapsedMilliseconds} ms ({tokenizer.VocabSize} ids)");

string corpus = BuildCorpus(targetBytes: 8 << 20);
int bytes = Encoding.UTF8.GetByteCount(corpus);
tokenizer.Encode(corpus[..100_000]); // JIT warm-up

for (int run = 0; run < 3; run++)
{
    var sw = Stopwatch.StartNew();
    int[] ids = tokenizer.Encode(corpus);
    sw.Stop();
    Console.WriteLine($"document: {bytes / 1e6:F1} MB -> {ids.Length} ids in {sw.Elapsed.TotalSeconds:F2} s = {bytes / 1e6 / sw.Elapsed.TotalSeconds:F1} MB/s");
}

// Fresh random words defeat the piece cache: the BPE merge loop itself.
var random = new Random(1);
var words = new StringBuilder();
while (words.Length < 2_000_000)
{
    words.Append(' ');
    int n = random.Next(3, 12);
    for (int i = 0; i < n; i++) words.Append((char)('a' + random.Next(26)));
}
string cold = words.ToString();
var coldWatch = Stopwatch.StartNew();
tokenizer.Encode(cold);
coldWatch.Stop();
var again = Stopwatch.StartNew();
tokenizer.Encode(cold);
Console.WriteLine($"same words again (cached): {cold.Length / 1e6 / again.Elapsed.TotalSeconds:F1} MB/s");
Console.WriteLine($"uncached random words: {cold.Length / 1e6:F1} MB in {coldWatch.Elapsed.TotalSeconds:F2} s = {cold.Length / 1e6 / coldWatch.Elapsed.TotalSeconds:F1} MB/s");

static string BuildCorpus(int targetBytes)
{
    string[] paragraphs =
    [
        "The MiMo-V2-Flash model interleaves sliding-window and global attention layers at a five-to-one ratio. "
        + "It's trained on 27T tokens, and we've measured how its KV cache shrinks by nearly six times.\n\n",
        "public static int Fibonacci(int n)\n{\n    if (n < 2) return n;\n    return Fibonacci(n - 1) + Fibonacci(n - 2);\n}\n\n",
        "def tokenize(text: str) -> list[int]:\n\treturn [vocab[t] for t in text.split()]  # TODO: BPE\n",
        "小米的大语言模型在推理和智能体任务中表现出色，上下文窗口支持长达256k的长度。\n",
        "Emoji and symbols: 👍🏽 🚀 ✨ — “quotes”, ‘apostrophes’, and 1,234.56 numbers.\r\n",
    ];
    var random = new Random(42);
    var sb = new StringBuilder(targetBytes);
    while (sb.Length < targetBytes / 1.2)
    {
        sb.Append(paragraphs[random.Next(paragraphs.Length)]);
        sb.Append("Section ").Append(random.Next(10_000)).Append(": item_").Append(random.Next(1000)).Append('\n');
    }
    return sb.ToString();
}

static string FindRepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "MimoSharp.slnx"))) return dir.FullName;
    throw new InvalidOperationException("Run from inside the MimoSharp repository, or pass the tokenizer.json path.");
}
