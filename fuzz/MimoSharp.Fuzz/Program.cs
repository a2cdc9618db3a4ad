using MimoSharp.Fuzz;
using SharpFuzz;

// mimo-fuzz: fuzzing of every reader of outside data.
//   mimo-fuzz list
//   mimo-fuzz mutate [TARGET|all] [--runs N] [--seed S] [--seconds T] [--findings DIR]   in-process seeded mutation run
//   mimo-fuzz seeds TARGET DIR                                                        the seeds, one file each (AFL's -i)
//   mimo-fuzz afl TARGET                                                              the AFL++ loop (scripts/fuzz.sh)
//   mimo-fuzz replay TARGET FILE|DIR...                                               run saved inputs, e.g. AFL's crashes
return args.FirstOrDefault() switch
{
    "list" => List(),
    "mutate" => Mutate(args[1..]),
    "seeds" when args.Length == 3 => Seeds(args[1], args[2]),
    "afl" when args.Length == 2 => Afl(args[1]),
    "replay" when args.Length >= 3 => Replay(args[1], args[2..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: mimo-fuzz list | mutate [TARGET|all] [--runs N] [--seed S] [--seconds T] [--findings DIR] | seeds TARGET DIR | afl TARGET | replay TARGET FILE|DIR...");
    return 2;
}

static int List()
{
    foreach (var name in FuzzTarget.Names) Console.WriteLine(name);
    return 0;
}

static int Mutate(string[] args)
{
    string which = "all";
    int runs = 2000, seed = 1;
    double? seconds = null;
    string? findingsDir = null;
    for (int i = 0; i < args.Length; i++)
    {
        string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
        switch (args[i])
        {
            case "--runs": runs = int.Parse(Value()); break;
            case "--seed": seed = int.Parse(Value()); break;
            case "--seconds": seconds = double.Parse(Value(), System.Globalization.CultureInfo.InvariantCulture); break;
            case "--findings": findingsDir = Value(); break;
            default: which = args[i]; break;
        }
    }
    var names = which == "all" ? FuzzTarget.Names : [which];
    int findings = 0;
    foreach (var name in names)
    {
        using var target = FuzzTarget.Create(name);
        var report = new MutationRun(target, seed).Run(seconds is null ? runs : int.MaxValue, seconds is double s ? TimeSpan.FromSeconds(s) : null);
        Console.WriteLine(report);
        foreach (var f in report.Findings)
        {
            Console.WriteLine($"  finding #{f.Index}: {string.Join("\n    ", f.Problem.Split('\n').Take(4))}");
            if (findingsDir is not null)
            {
                string dir = Path.Combine(findingsDir, name);
                Directory.CreateDirectory(dir);
                File.WriteAllBytes(Path.Combine(dir, $"seed{seed}-{f.Index}.bin"), f.Input);
            }
        }
        findings += report.Findings.Count;
    }
    return findings == 0 ? 0 : 1;
}

static int Seeds(string name, string dir)
{
    using var target = FuzzTarget.Create(name);
    Directory.CreateDirectory(dir);
    for (int i = 0; i < target.Seeds.Count; i++) File.WriteAllBytes(Path.Combine(dir, $"seed{i}"), target.Seeds[i]);
    Console.WriteLine($"{target.Seeds.Count} seeds of {name} in {dir}");
    return 0;
}

static unsafe int Afl(string name)
{
    // Instrumented code counts branches into AFL's shared memory, which Fuzzer.Run attaches only when the loop starts;
    // building the target (the micro model, its files) runs instrumented code before that, so give it a scratch map.
    SharpFuzz.Common.Trace.SharedMem = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(1 << 16);
    using var target = FuzzTarget.Create(name);
    var run = new MutationRun(target, 0);
    var findings = new List<FuzzFinding>();
    // A finding (escaped exception, hang past the limit, huge allocation) becomes an unhandled exception: AFL's crash.
    Fuzzer.Run(stream =>
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        findings.Clear();
        if (run.Execute(buffer.ToArray(), 0, findings) is null) throw new InvalidOperationException(findings[0].Problem);
    });
    return 0;
}

static int Replay(string name, string[] paths)
{
    using var target = FuzzTarget.Create(name);
    var run = new MutationRun(target, 0);
    var files = paths.SelectMany(p => Directory.Exists(p) ? Directory.GetFiles(p).Order(StringComparer.Ordinal) : (IEnumerable<string>)[p]).ToList();
    int bad = 0;
    foreach (var file in files)
    {
        var findings = new List<FuzzFinding>();
        var result = run.Execute(File.ReadAllBytes(file), 0, findings);
        Console.WriteLine($"{file}: {(result is null ? "FINDING " + findings[0].Problem : result.Value ? "read" : "refused: " + target.LastRefusal!.Message)}");
        if (result is null) bad++;
    }
    return bad == 0 ? 0 : 1;
}
