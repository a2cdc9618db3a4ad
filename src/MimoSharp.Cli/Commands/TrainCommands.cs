using System.CommandLine;
using System.Globalization;
using MimoSharp.Training.Checkpoints;
using MimoSharp.Training.Compat;
using MimoSharp.Training.Data;
using MimoSharp.Training.Model;
using MimoSharp.Training.Pretraining;

namespace MimoSharp.Cli.Commands;

/// <summary><c>mimo train</c>, <c>mimo eval</c> and <c>mimo corpus pack</c>: pre-training with the MTP loss on TorchSharp.</summary>
public static class TrainCommands
{
    public static IEnumerable<Command> Create() => [CreateTrain(), CreateEval(), CreateCorpus()];

    public static Command CreateTrain()
    {
        var data = new Option<string>("--data") { Description = "packed corpus folder (meta.json + shards; see scripts/corpus.sh)", Required = true };
        var output = new Option<string>("--out") { Description = "checkpoint folder to write (model files + training/ state)", Required = true };
        var config = new Option<string?>("--config") { Description = "Hub-format config.json of a new model to train from scratch" };
        var initFrom = new Option<string?>("--init-from") { Description = "checkpoint folder to start from (fine-tune on new data)" };
        var resume = new Option<bool>("--resume") { Description = "continue the run saved in --out (same settings; --steps may change, which re-times the cosine decay)" };
        var d = new TrainOptions { DataDirectory = "", OutputDirectory = "" };
        var mtpLayers = Opt("--mtp-layers", "MTP depths of a new model", d.MtpLayers);
        var ropeTheta = new Option<double?>("--rope-theta")
        {
            Description = "context extension: RoPE base of the global layers (the SWA layers keep theirs), saved in config.json; " +
                "e.g. --init-from DIR --context 32768 --rope-theta 5000000",
        };
        var steps = Opt("--steps", "total optimizer steps", d.Steps);
        var batch = Opt("--batch-size", "sequences per step", d.BatchSize);
        var context = Opt("--context", "tokens per sequence (beyond the model's max_position_embeddings raises it in the saved config)", d.ContextLength);
        var lr = Opt("--lr", "peak learning rate", d.LearningRate);
        var minLr = Opt("--min-lr-fraction", "final learning rate as a fraction of the peak (cosine)", d.MinLearningRateFraction);
        var warmup = Opt("--warmup", "linear warm-up steps", d.WarmupSteps);
        var decayFraction = new Option<double?>("--decay-fraction")
        {
            Description = "warm-up–stable–decay: hold the peak, then decay (1−√) over this last fraction of --steps; extendable while stable. Omit for cosine",
        };
        var weightDecay = Opt("--weight-decay", "AdamW decoupled weight decay (matrices only)", d.WeightDecay);
        var clip = Opt("--grad-clip", "global gradient-norm clip (0 = off)", d.GradClip);
        var mtpWeight = Opt("--mtp-weight", "weight of the MTP losses, shared over depths", d.MtpWeight);
        var gamma = Opt("--balance-gamma", "router correction-bias step for loss-free load balancing (0 = off)", d.BalanceGamma);
        var seed = Opt("--seed", "seed for initialisation and data order", (long)d.Seed);
        var evalEvery = Opt("--eval-every", "steps between held-out evaluations (0 = only at the end)", d.EvalEvery);
        var evalWindows = Opt("--eval-windows", "held-out windows per evaluation", d.EvalWindows);
        var saveEvery = Opt("--save-every", "steps between checkpoints", d.SaveEvery);
        var logEvery = Opt("--log-every", "steps between log lines and metrics records", d.LogEvery);
        var bf16 = new Option<bool>("--bf16") { Description = "run matmuls in bfloat16 (fp32 master weights); faster only on CPUs with native bf16 (AVX512-BF16/AMX)" };
        var saveDtype = Cli.SaveDTypeOption(d.SaveDType);
        var maxSteps = new Option<int?>("--max-steps-this-run") { Description = "save and stop after this many steps (resume later with --resume)" };
        var threads = Cli.ThreadsOption(d.Threads);
        var cmd = new Command("train", "pre-train (or fine-tune) a MiMo model with next-token + MTP losses")
        {
            data, output, config, initFrom, resume, mtpLayers, ropeTheta, steps, batch, context, lr, minLr, warmup, decayFraction, weightDecay, clip, mtpWeight,
            gamma, seed, evalEvery, evalWindows, saveEvery, logEvery, bf16, saveDtype, maxSteps, threads,
        };
        cmd.SetAction(r => Run(() =>
        {
            var options = new TrainOptions
            {
                DataDirectory = r.GetValue(data)!,
                OutputDirectory = r.GetValue(output)!,
                ConfigPath = r.GetValue(config),
                InitFrom = r.GetValue(initFrom),
                Resume = r.GetValue(resume),
                MtpLayers = r.GetValue(mtpLayers),
                RopeTheta = r.GetValue(ropeTheta),
                Steps = r.GetValue(steps),
                BatchSize = r.GetValue(batch),
                ContextLength = r.GetValue(context),
                LearningRate = r.GetValue(lr),
                MinLearningRateFraction = r.GetValue(minLr),
                WarmupSteps = r.GetValue(warmup),
                DecayFraction = r.GetValue(decayFraction),
                WeightDecay = r.GetValue(weightDecay),
                GradClip = r.GetValue(clip),
                MtpWeight = r.GetValue(mtpWeight),
                BalanceGamma = r.GetValue(gamma),
                Seed = (ulong)r.GetValue(seed),
                EvalEvery = r.GetValue(evalEvery),
                EvalWindows = r.GetValue(evalWindows),
                SaveEvery = r.GetValue(saveEvery),
                LogEvery = r.GetValue(logEvery),
                Bf16 = r.GetValue(bf16),
                SaveDType = Cli.SaveDType(r.GetValue(saveDtype)!),
                MaxStepsThisRun = r.GetValue(maxSteps),
                Threads = Cli.Threads(r, threads),
            };
            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                e.Cancel = true;
                Console.Error.WriteLine("\ntrain: interrupted — saving a checkpoint (resume with --resume)");
                cancel.Cancel();
            };
            Console.CancelKeyPress += onCancel;
            try
            {
                var result = new Trainer(options, Console.Error, new TrainProgressBar(Console.Error)).Run(cancel.Token);
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"train: step {result.Step}, last loss {result.LastLoss:F4}, {result.TokensPerSecond:N0} tokens/s overall"));
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
            return 0;
        }));
        return cmd;
    }

    public static Command CreateEval()
    {
        var model = Cli.ModelOption();
        var textFile = new Option<string>("--text-file") { Description = "UTF-8 text to evaluate on (held-out text); not with --passkey" };
        var context = new Option<int>("--context") { Description = "tokens per evaluation window", DefaultValueFactory = _ => 256 };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "evaluate only the first N tokens of the text" };
        var threads = Cli.ThreadsOption();
        var json = Cli.JsonOption();
        var passkey = new PasskeyCliOptions();
        var cmd = new Command("eval",
            "held-out loss, bits per byte, perplexity and per-depth MTP top-1 accuracy of a model on a text file; " +
            "or, with --passkey, passkey-retrieval accuracy by context length and depth")
        {
            model, textFile, context, maxTokens, threads, json,
        };
        passkey.AddTo(cmd);
        cmd.SetAction(r => Run(() =>
        {
            string dir = Cli.ResolveModel(r.GetValue(model));
            if (r.GetValue(passkey.Enabled))
            {
                if (r.GetValue(textFile) is not null) throw new ArgumentException("give either --text-file (held-out loss) or --passkey, not both");
                return passkey.Run(r, dir, Cli.Threads(r, threads), r.GetValue(json));
            }
            string path = r.GetValue(textFile) ?? throw new ArgumentException("give --text-file FILE to evaluate on, or --passkey");
            if (!File.Exists(path)) throw new FileNotFoundException($"--text-file {path} does not exist");
            if (r.GetValue(context) < 2) throw new ArgumentException($"--context must be at least 2, got {r.GetValue(context)}");
            var tokenizer = Cli.TryLoadTokenizer(dir)
                ?? throw new FileNotFoundException($"{dir} has no tokenizer.json to encode {path} with");
            int[] tokens = tokenizer.Encode(File.ReadAllText(path), parseSpecial: false);
            if (r.GetValue(maxTokens) is int max && max < tokens.Length) tokens = tokens[..Math.Max(0, max)];
            if (tokens.Length < 2) throw new ArgumentException($"{path} encodes to {tokens.Length} tokens; evaluation needs at least 2");
            LibTorchCompat.EnsureInitialized();
            TorchSharp.torch.set_num_threads(Math.Max(1, r.GetValue(threads)));
            using var network = NetworkCheckpoint.Load(dir);
            var result = Evaluator.Evaluate(network, tokens, r.GetValue(context));
            // Bits per byte: the loss in bits per token times tokens per byte of the text evaluated, so models with
            // different vocabularies compare on the same text.
            long bytes = System.Text.Encoding.UTF8.GetByteCount(tokenizer.Decode(tokens));
            double bitsPerByte = result.Loss / Math.Log(2) * tokens.Length / bytes;
            if (r.GetValue(json))
            {
                Cli.WriteJson(new
                {
                    tokens = result.Tokens,
                    bytes,
                    loss = result.Loss,
                    bits_per_byte = bitsPerByte,
                    perplexity = result.Perplexity,
                    mtp_accuracy = result.MtpAccuracy,
                    mtp_loss = result.MtpLoss,
                });
            }
            else
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"tokens      {result.Tokens}"));
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"loss        {result.Loss:F4} nats/token"));
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"perplexity  {result.Perplexity:F2}"));
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"bits/byte   {bitsPerByte:F3} ({bytes} UTF-8 bytes)"));
                for (int k = 0; k < result.MtpAccuracy.Length; k++)
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"MTP depth {k} (predicts +{k + 2}): top-1 accuracy {result.MtpAccuracy[k]:P1}, loss {result.MtpLoss[k]:F4}"));
            }
            return 0;
        }));
        return cmd;
    }

    public static Command CreateCorpus()
    {
        var input = new Option<string>("--input") { Description = "folder of UTF-8 *.txt files, one per source", Required = true };
        var tokenizer = new Option<string>("--tokenizer") { Description = "tokenizer.json to encode with", Required = true };
        var output = new Option<string>("--out") { Description = "packed corpus folder to write", Required = true };
        var heldout = Opt("--heldout", "fraction of every source kept for held-out evaluation", CorpusPacker.DefaultHeldoutFraction);
        var shard = Opt("--shard-tokens", "tokens per shard file", CorpusPacker.DefaultShardTokens);
        var special = new Option<bool>("--special-tokens") { Description = "encode the tokenizer's added tokens (<|im_start|>, <|im_end|>…) written in the text as their ids, for chat-format text" };
        var pack = new Command("pack", "tokenize text files into train / held-out shards (uint32 ids) with meta.json")
        {
            input, tokenizer, output, heldout, shard, special,
        };
        pack.SetAction(r => Run(() =>
        {
            var meta = CorpusPacker.Pack(r.GetValue(input)!, r.GetValue(tokenizer)!, r.GetValue(output)!, r.GetValue(heldout),
                r.GetValue(shard), Console.Error, r.GetValue(special));
            Console.Out.WriteLine($"packed {meta.TrainTokens:N0} train + {meta.HeldoutTokens:N0} held-out tokens into {r.GetValue(output)}");
            return 0;
        }));
        return new Command("corpus", "build training corpora") { pack };
    }

    private static Option<T> Opt<T>(string name, string description, T fallback) => Cli.Defaulted(name, description, fallback);

    /// <summary><see cref="Cli.Run"/>, plus corrupt-data errors (InvalidDataException) reported the same way.</summary>
    private static int Run(Func<int> body) => Cli.Run(() =>
    {
        try
        {
            return body();
        }
        catch (InvalidDataException e)
        {
            throw new IOException(e.Message, e);
        }
    });
}
