using MimoSharp.Fuzz;

namespace MimoSharp.Tests.Fuzz;

/// <summary>
/// The short, seeded fuzz run of every reader of outside data (the long coverage-guided runs are scripts/fuzz.sh),
/// and the inputs earlier runs found, kept as regressions: each must be refused by name, never crash, hang or
/// allocate without bound.
/// </summary>
[Collection(nameof(ReaderFuzzTests))]
public sealed class ReaderFuzzTests
{
    public static TheoryData<string> Targets() => new(FuzzTarget.Names);

    [Theory]
    [MemberData(nameof(Targets))]
    public void SeededMutationsAreReadOrRefusedByName(string name)
    {
        using var target = FuzzTarget.Create(name);
        var report = new MutationRun(target, seed: 20261204).Run(executions: 4000);

        Assert.True(report.Findings.Count == 0,
            $"{report}\n" + string.Join("\n", report.Findings.Take(5).Select(f => $"#{f.Index}: {f.Problem}")));
        Assert.Equal(4000, report.Executions);
        // The run must reach past the first check: some mutations still load, most are refused.
        Assert.InRange(report.Accepted, 1, 3999);
        Assert.InRange(report.Rejected, 1, 3999);
    }

    public static TheoryData<string, string> Regressions()
    {
        var data = new TheoryData<string, string>();
        string root = Path.Combine(MicroModel.RepositoryRoot, "fuzz", "regressions");
        foreach (var dir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
            foreach (var file in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
                data.Add(Path.GetFileName(dir), Path.GetFileName(file));
        return data;
    }

    [Theory]
    [MemberData(nameof(Regressions))]
    public void InputsThatOnceCrashedAReaderAreRefusedByName(string name, string file)
    {
        using var target = FuzzTarget.Create(name);
        var findings = new List<FuzzFinding>();
        var input = File.ReadAllBytes(Path.Combine(MicroModel.RepositoryRoot, "fuzz", "regressions", name, file));

        var accepted = new MutationRun(target, seed: 0).Execute(input, 0, findings);

        Assert.True(findings.Count == 0, findings.FirstOrDefault()?.Problem);
        Assert.False(accepted, $"{file} is corrupt and must be refused");
        Assert.NotNull(target.LastRefusal);
    }

    [Fact]
    public void AReaderThatThrowsAnUnexpectedExceptionIsAFinding()
    {
        using var target = new CrashingTarget();
        var report = new MutationRun(target, seed: 1).Run(executions: 50);

        Assert.NotEmpty(report.Findings);
        Assert.Contains("IndexOutOfRangeException", report.Findings[0].Problem);
    }

    [Fact]
    public void TheSameSeedGivesTheSameInputs()
    {
        var seeds = new[] { "{\"a\": [1, 2, 3], \"b\": \"text\"}"u8.ToArray() };
        var a = new Mutator(5);
        var b = new Mutator(5);
        for (int i = 0; i < 100; i++) Assert.Equal(a.Next(seeds), b.Next(seeds));
    }

    /// <summary>A reader with the bug the fuzzer exists to find: it trusts a length byte.</summary>
    private sealed class CrashingTarget : FuzzTarget
    {
        public override string Name => "crashing";
        public override IReadOnlyList<byte[]> Seeds { get; } = [[3, 1, 2, 3]];

        protected override void Read(ReadOnlySpan<byte> input)
        {
            if (input.Length == 0) throw new InvalidDataException("crashing: empty");
            var copy = new byte[input.Length - 1];
            for (int i = 0; i < input[0]; i++) copy[i] = input[i + 1];
        }

        protected override bool IsRefusal(Exception e) => e is InvalidDataException;
    }
}

/// <summary>The fuzz runs time each input: they run alone, not beside other test classes competing for the cores.</summary>
[CollectionDefinition(nameof(ReaderFuzzTests), DisableParallelization = true)]
public sealed class ReaderFuzzCollection;
