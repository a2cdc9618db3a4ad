using System.Text.Json;
using MimoSharp.Tests.Support;
using MimoSharp.Training.Distillation;

namespace MimoSharp.Training.Tests.Distillation;

/// <summary>mimo distill, mimo distill eval and mimo distill data as a user runs them.</summary>
public class DistillCliTests(MopdWorkspace w) : IClassFixture<MopdWorkspace>
{
    [Fact]
    public void DistillThenEvaluateFromTheCommandLine()
    {
        string output = w.Run.Out("cli-distill");
        var distill = MimoProcess.Run("distill", "--student", w.Student, "--teacher", $"rhymes={w.Teacher}", "--prompts", $"rhymes={w.TrainPrompts}",
            "--eval", $"rhymes={w.HeldoutPrompts}", "--out", output, "--steps", "3", "--prompts-per-step", "4", "--eval-every", "3",
            "--eval-prompts", "6", "--threads", "1", "--json");
        Assert.True(distill.ExitCode == 0, distill.Stderr);
        Assert.Contains("step 3/3", distill.Stderr);
        Assert.Contains("reverse KL", distill.Stderr);
        Assert.Contains("ETA", distill.Stderr);
        var json = JsonDocument.Parse(distill.Stdout).RootElement;   // JSON alone on stdout
        Assert.True(json.GetProperty("finished").GetBoolean());
        Assert.Equal("rhymes", json.GetProperty("eval")[0].GetProperty("domain").GetString());

        var eval = MimoProcess.Run("distill", "eval", "--model", output, "--teacher", $"rhymes={w.Teacher}", "--eval", $"rhymes={w.HeldoutPrompts}",
            "--threads", "1", "--json");
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        var domain = JsonDocument.Parse(eval.Stdout).RootElement.GetProperty("domains")[0];
        Assert.True(domain.GetProperty("reverse_kl").GetDouble() > 0);
        Assert.True(domain.GetProperty("reference_perplexity").GetDouble() > 1);

        string pictures = w.Run.Out("cli-curves");
        var one = MimoProcess.Run("distill", "curves", "--run", $"a={output}", "--out", pictures);
        Assert.True(one.ExitCode == 0, one.Stderr);
        Assert.True(File.Exists(Path.Combine(pictures, "reverse_kl_rhymes.svg")));
        Assert.Contains("<polyline", File.ReadAllText(Path.Combine(pictures, "reference_nll.svg")));
        var two = MimoProcess.Run("distill", "curves", "--run", $"a={output}", "--run", $"b={output}", "--out", pictures);
        Assert.True(two.ExitCode == 0, two.Stderr);
        Assert.True(File.Exists(Path.Combine(pictures, "compare_rhymes_reverse_kl.svg")));
        var notARun = MimoProcess.Run("distill", "curves", "--run", $"a={w.Teacher}", "--out", pictures);
        Assert.Equal(1, notARun.ExitCode);
        Assert.Contains("not a mimo distill output folder", notARun.Stderr);

        var teacherSelf = MimoProcess.Run("distill", "eval", "--model", w.Teacher, "--teacher", $"rhymes={w.Teacher}", "--eval", $"rhymes={w.HeldoutPrompts}",
            "--threads", "1", "--json");
        Assert.True(teacherSelf.ExitCode == 0, teacherSelf.Stderr);
        Assert.Equal(0, JsonDocument.Parse(teacherSelf.Stdout).RootElement.GetProperty("domains")[0].GetProperty("reverse_kl").GetDouble(), 6);
    }

    [Fact]
    public void BadArgumentsGetOneClearLine()
    {
        var malformed = MimoProcess.Run("distill", "--student", w.Student, "--teacher", "rhymes", "--prompts", $"rhymes={w.TrainPrompts}", "--out", w.Run.Out("x"));
        Assert.Equal(1, malformed.ExitCode);
        Assert.Contains("--teacher \"rhymes\": expected NAME=PATH", malformed.Stderr);

        var unknown = MimoProcess.Run("distill", "--student", w.Student, "--teacher", $"rhymes={w.Teacher}", "--prompts", $"rhymes={w.TrainPrompts}",
            "--prompts", $"math={w.TrainPrompts}", "--out", w.Run.Out("y"));
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("unknown domain \"math\"", unknown.Stderr);
        Assert.Empty(unknown.Stdout);
    }

    [Fact]
    public void DataCommandBuildsThreeDomainsWithDisjointHeldOutSplits()
    {
        string corpus = w.Run.Out("corpus-text");
        Directory.CreateDirectory(corpus);
        File.WriteAllText(Path.Combine(corpus, "wordnet.txt"), string.Concat(Enumerable.Range(0, 300).Select(i => $"word{i} (noun): the meaning of word number {i}  \n")));
        string code = string.Concat(Enumerable.Range(0, 60).Select(d =>
            $"src/file{d}.go\n" + string.Concat(Enumerable.Range(0, 30).Select(l => $"\tx{l} := compute({d}, {l})\n")) + "\n\f\n"));
        File.WriteAllText(Path.Combine(corpus, "go-src.txt"), code);
        File.WriteAllText(Path.Combine(corpus, "rust-std.txt"), code.Replace(".go", ".rs"));
        string output = w.Run.Out("domains");
        var data = MimoProcess.Run("distill", "data", "--corpus", corpus, "--out", output, "--train-prompts", "50", "--heldout-prompts", "10");
        Assert.True(data.ExitCode == 0, data.Stderr);
        foreach (var domain in DomainData.Domains)
        {
            var train = DistillPrompt.Load(Path.Combine(output, $"{domain}.train.jsonl"));
            var heldout = DistillPrompt.Load(Path.Combine(output, $"{domain}.heldout.jsonl"));
            Assert.Equal(50, train.Count);
            Assert.Equal(10, heldout.Count);
            string text = File.ReadAllText(Path.Combine(output, "train", domain, domain + ".txt"));
            if (domain != "code")   // code windows are cut from held-out files, which the teacher text excludes
                foreach (var h in heldout) Assert.DoesNotContain(h.Prompt + (h.Answer ?? h.Reference), text);
            Assert.Empty(train.Select(p => p.Prompt).Intersect(heldout.Select(p => p.Prompt)));
        }
        var missing = MimoProcess.Run("distill", "data", "--corpus", w.Run.Out("nowhere"), "--out", output);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("scripts/corpus.sh", missing.Stderr);
    }
}
