using MimoSharp.Training.Data;
using MimoSharp.Training.Tests.Support;

namespace MimoSharp.Training.Tests.Pretraining;

/// <summary>Mistakes a user makes get one clear error naming the file or option at fault.</summary>
public class BadInputTests
{
    private static Exception Fails(MimoSharp.Training.Pretraining.TrainOptions options) =>
        Assert.ThrowsAny<Exception>(() => new MimoSharp.Training.Pretraining.Trainer(options, TextWriter.Null).Run());

    [Fact]
    public void MissingCorpus()
    {
        using var run = new TinyRun();
        string missing = run.Out("no-such-corpus");
        var e = Fails(run.Options(run.Out("ckpt")) with { DataDirectory = missing });
        Assert.IsType<FileNotFoundException>(e);
        Assert.Contains(missing, e.Message);
        Assert.Contains("corpus.sh", e.Message);
    }

    [Fact]
    public void EmptyShard()
    {
        using var run = new TinyRun();
        var meta = CorpusMeta.Load(run.Corpus);
        string shard = Path.Combine(run.Corpus, meta.Train[0].File);
        File.WriteAllBytes(shard, []);
        var e = Fails(run.Options(run.Out("ckpt")));
        Assert.IsType<InvalidDataException>(e);
        Assert.Contains(shard, e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void UnwritableOutputFolder()
    {
        using var run = new TinyRun();
        string blocker = run.Out("a-file");
        File.WriteAllText(blocker, "not a folder");
        string output = Path.Combine(blocker, "ckpt");
        var e = Fails(run.Options(output));
        Assert.IsAssignableFrom<IOException>(e);
        Assert.Contains(output, e.Message);
        Assert.Contains("not writable", e.Message);
    }

    [Fact]
    public void MismatchedResumeCheckpoint()
    {
        using var run = new TinyRun();
        var options = run.Options(run.Out("ckpt"), steps: 4) with { EvalEvery = 0 };
        new MimoSharp.Training.Pretraining.Trainer(options, TextWriter.Null).Run();

        var e = Fails(options with { Resume = true, BatchSize = 2, Steps = 8 });
        Assert.IsType<InvalidOperationException>(e);
        Assert.Contains("batch_size = 4", e.Message);
        Assert.Contains("asks for 2", e.Message);

        var again = Fails(options with { Steps = 8 });
        Assert.Contains("--resume", again.Message);

        var nothing = Fails(options with { OutputDirectory = run.Out("empty"), Resume = true });
        Assert.Contains("holds no training run", nothing.Message);
    }

    [Fact]
    public void ConfigWhoseVocabularyDiffersFromTheCorpus()
    {
        using var run = new TinyRun();
        var config = TinyRun.TinyConfig(run.VocabSize + 5);
        string path = run.Out("config-big-vocab.json");
        File.WriteAllText(path, config.ToJsonString());
        var e = Fails(run.Options(run.Out("ckpt")) with { ConfigPath = path });
        Assert.Contains($"vocab_size is {run.VocabSize + 5}", e.Message);
    }

    [Fact]
    public void ContextLongerThanTheHeldOutSplit()
    {
        using var run = new TinyRun();
        var e = Fails(run.Options(run.Out("ckpt")) with { ContextLength = 100_000 });
        Assert.IsType<InvalidDataException>(e);
        Assert.Contains("fewer than one window", e.Message);
    }
}
