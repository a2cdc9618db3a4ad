using System.Text.Json.Nodes;
using MimoSharp.Config;
using MimoSharp.Model;
using MimoSharp.Training.Distillation;
using MimoSharp.Training.Pretraining;

namespace MimoSharp.Training.Tests.Runs;

/// <summary>The run folder's files keep their format, and recorded routings compare as sets of experts.</summary>
public sealed class RunFolderTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"mimo-runfolder-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    /// <summary>The head of a training/state.json written by an earlier version during a long run (history cut to two points).</summary>
    private const string SavedTrainState = """
        {
          "step": 550,
          "data_position": 4400,
          "tokens_seen": 4505600,
          "train_seconds": 6139.368221799997,
          "training_flops_per_token": 63244032,
          "matmul_peak_flops": 435047941331.38855,
          "optimizer_file": "optimizer-00000550.safetensors",
          "settings": {
            "balance_gamma": "0.01",
            "batch_size": "8",
            "bf16": "true",
            "config_sha256": "a1ccc2aa985b27870e9c69d11cafe6ad44c2116f7665ee4eaf88d9e020e28c2a",
            "context": "1024",
            "corpus_tokenizer_sha256": "8ce4e4ed361c8ffaf14dcf70d35573f33e5d369047bbc841aa575bde81cefbc0",
            "corpus_train_tokens": "38490514",
            "grad_clip": "1",
            "lr": "0.002",
            "min_lr_fraction": "0.1",
            "mtp_weight": "0.3",
            "schedule": "wsd:0.15",
            "seed": "1",
            "warmup": "200",
            "weight_decay": "0.1"
          },
          "history": [
            {
              "step": 10,
              "loss": 10.759974670410156,
              "main_loss": 8.253861904144287,
              "mtp_loss": [
                8.355570411682129,
                8.34110107421875,
                8.364459896087647
              ],
              "lr": 0.0001,
              "grad_norm": 1.9812188890903843,
              "tokens_per_second": 1018.3001210787684,
              "mfu": 0.14466210248715783
            },
            {
              "step": 20,
              "loss": 10.401826953887939,
              "main_loss": 7.943524932861328,
              "mtp_loss": [
                8.193580293655396,
                8.186244344711303,
                8.203196048736572
              ],
              "lr": 0.0002,
              "grad_norm": 1.7786761249587058,
              "tokens_per_second": 1226.1026520230678,
              "mfu": 0.17418301720207388
            }
          ],
          "eval_history": [
            {
              "step": 200,
              "loss": 5.013266644519795,
              "perplexity": 150.3952223196966,
              "mtp_loss": [
                4.983527355853514,
                5.015050715571947,
                5.0201639412275325
              ],
              "mtp_accuracy": [
                0.16387393998695368,
                0.15981064316030036,
                0.15847630718954248
              ]
            }
          ]
        }
        """;

    [Fact]
    public void AStateFileSavedByAnEarlierVersionLoadsAndSavesByteForByte()
    {
        string path = TrainState.PathIn(_dir);
        Assert.Equal(Path.Combine(_dir, "training", "state.json"), path);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, SavedTrainState + "\n");
        var state = TrainState.TryLoad(_dir)!;
        Assert.Equal(550, state.Step);
        Assert.Equal("optimizer-00000550.safetensors", state.OptimizerFile);
        Assert.Equal("wsd:0.15", state.Settings["schedule"]);

        state.Save(_dir);
        Assert.Equal(SavedTrainState + "\n", File.ReadAllText(path));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp-*"));
    }

    [Fact]
    public void DistillationStateLivesNextToTheTrainingStateUnderItsOwnName()
    {
        Assert.Equal(Path.Combine(_dir, "training", "distill-state.json"), DistillState.PathIn(_dir));
        Assert.Null(DistillState.TryLoad(_dir));
        var state = new DistillState { Settings = new(StringComparer.Ordinal) { ["lr"] = "0.0001" }, Step = 3 };
        state.Cursors["code"] = 12;
        state.Save(_dir);
        var loaded = DistillState.TryLoad(_dir)!;
        Assert.Equal(3, loaded.Step);
        Assert.Equal(12, loaded.Cursors["code"]);
        Assert.Null(TrainState.TryLoad(_dir));
    }

    [Fact]
    public void RecordedRoutingsCompareAsSetsOfExpertsOnTheMarkedRowsOnly()
    {
        // Layer 0 is dense, layers 1 and 2 are MoE (the default moe_layer_freq); two experts per token.
        var config = MimoConfig.Parse(JsonNode.Parse("""
            {"vocab_size": 16, "hidden_size": 8, "intermediate_size": 16, "moe_intermediate_size": 4, "num_hidden_layers": 3,
             "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4, "sliding_window": 4,
             "n_routed_experts": 4, "num_experts_per_tok": 2}
            """)!.AsObject());
        var engine = new RecordedRouting(config, rows: 3);
        var trainer = new RecordedRouting(config, rows: 3);
        Assert.Equal(2, engine.MoeLayers);
        Assert.Same(engine[1], engine.OfLayer(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => engine.OfLayer(0));

        int[] a = [0, 1, 2, 3, 1, 2], b = [1, 0, 2, 3, 3, 0];   // row 0: same set in another order; row 2 differs
        a.CopyTo(engine[0], 0);
        b.CopyTo(trainer[0], 0);
        a.CopyTo(engine[1], 0);
        a.CopyTo(trainer[1], 0);
        Assert.Equal(1.0 / 6, engine.FractionDiffering(trainer, [true, true, true]), 12);
        Assert.Equal(0.0, engine.FractionDiffering(trainer, [true, true, false]), 12);   // padding rows do not count

        var row2 = engine.Slice(firstRow: 2, rows: 1);
        Assert.Equal(1, row2.Rows);
        Assert.Equal([1, 2], row2[0]);
        Assert.Throws<ArgumentException>(() => row2.CheckRows(3));
    }
}
