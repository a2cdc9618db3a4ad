// Matrix-vector throughput of the weight kernels, from cache and from DRAM, per format and thread count.
// usage: dotnet run --project benchmarks/KernelBench -c Release -- [--threads 1,2] [--inputs 1]
using System.Diagnostics;
using MimoSharp.Tensors;

int[] threadCounts = [1, 2];
int inputs = 1;
for (int i = 0; i + 1 < args.Length; i += 2)
{
    if (args[i] == "--threads") threadCounts = args[i + 1].Split(',').Select(int.Parse).ToArray();
    else if (args[i] == "--inputs") inputs = int.Parse(args[i + 1]);
    else throw new ArgumentException($"unknown option {args[i]}");
}

// An expert's gate (fits L2), and a stack of 256 such matrices (64 MB of Q8_0: streamed from DRAM), as in decoding.
(string Name, int Rows, int Cols, int Copies)[] shapes = [("768x256 (in L2)", 256, 768, 1), ("768x256 x 256 (DRAM)", 256, 768, 256),
    ("4096x2048 x 16 (DRAM, real expert)", 2048, 4096, 16)];
var random = new Random(1);
var keepAlive = new List<object>(); // pinned arrays the FP8 matrices point into
var fp8Codes = new Dictionary<(int Rows, int Cols), List<byte[]>>(); // their bytes, for the plain-read ceiling
Console.WriteLine($"{inputs} input row(s); GB/s counts the weight bytes read per product; formats alternate within each trial (the machine is noisy)");
Console.WriteLine("format     shape                                threads   us/product   GB/s");
// FP8 and BF16 twice: row by row as stored (Fp8Block, DotBf16) and repacked into panels at load (Fp8Panel, Bf16Panel:
// what a model uses while memory allows).
(string Label, WeightFormat Format, bool Panels)[] formats = [("FP8 rows", WeightFormat.Fp8Block, false), ("FP8 panel", WeightFormat.Fp8Block, true),
    ("Q8_0", WeightFormat.Q8_0, false), ("Q4_K", WeightFormat.Q4_K, false), ("BF16 rows", WeightFormat.BF16, false), ("BF16 panel", WeightFormat.BF16, true)];
foreach (var (name, rows, cols, copies) in shapes)
{
    var byFormat = formats.Select(f => Matrices(f.Format, rows, cols, copies, f.Panels)).ToArray();
    var x = Enumerable.Range(0, inputs * cols).Select(_ => (float)random.NextDouble()).ToArray();
    var y = new float[inputs * rows];
    foreach (int threads in threadCounts)
    {
        ComputePool.Threads = threads;
        int reps = Math.Max(copies, 2000 / inputs);
        // Long enough for the JIT's tiering to reach the optimised kernels.
        foreach (var matrices in byFormat)
            for (var warm = Stopwatch.StartNew(); warm.Elapsed.TotalSeconds < 1;)
                for (int r = 0; r < copies; r++) MatMul.Compute(matrices[r], x, inputs, y);
        var best = new double[formats.Length];
        Array.Fill(best, double.MaxValue);
        for (int trial = 0; trial < 5; trial++)
            for (int f = 0; f < formats.Length; f++)
            {
                var clock = Stopwatch.StartNew();
                for (int r = 0; r < reps; r++) MatMul.Compute(byFormat[f][r % copies], x, inputs, y);
                best[f] = Math.Min(best[f], clock.Elapsed.TotalSeconds / reps);
            }
        for (int f = 0; f < formats.Length; f++)
            Console.WriteLine($"{formats[f].Label,-10} {name,-36} {threads,7} {best[f] * 1e6,12:F2} {byFormat[f][0].StoredBytes / best[f] / 1e9,6:F1}");
        // The ceiling: the FP8 matrices' bytes read with 16-byte loads and no arithmetic, split as the kernels split.
        double read = double.MaxValue;
        for (int trial = 0; trial < 5; trial++)
        {
            var clock = Stopwatch.StartNew();
            for (int r = 0; r < reps; r++) ReadAll(fp8Codes[(rows, cols)][r % copies], threads);
            read = Math.Min(read, clock.Elapsed.TotalSeconds / reps);
        }
        Console.WriteLine($"{"read",-10} {name,-36} {threads,7} {read * 1e6,12:F2} {(long)rows * cols / read / 1e9,6:F1}");
    }
}

WeightMatrix[] Matrices(WeightFormat format, int rows, int cols, int copies, bool panels)
{
    var matrices = new WeightMatrix[copies];
    unsafe
    {
        for (int c = 0; c < copies; c++)
        {
            if (format == WeightFormat.Fp8Block)
            {
                // Random e4m3 codes (no NaN codes) under random 128x128 block scales, as stored in the official checkpoint.
                var codes = GC.AllocateUninitializedArray<byte>(rows * cols, pinned: true);
                random.NextBytes(codes);
                for (int i = 0; i < codes.Length; i++) if ((codes[i] & 0x7F) == 0x7F) codes[i] ^= 1;
                var scales = GC.AllocateUninitializedArray<float>(((rows + 127) / 128) * ((cols + 127) / 128), pinned: true);
                for (int i = 0; i < scales.Length; i++) scales[i] = (float)(random.NextDouble() + 0.5) / 448;
                keepAlive.Add(codes);
                keepAlive.Add(scales);
                if (!fp8Codes.TryGetValue((rows, cols), out var list)) fp8Codes[(rows, cols)] = list = [];
                list.Add(codes);
                fixed (byte* pc = codes)
                fixed (float* ps = scales)
                    matrices[c] = WeightMatrix.FromPinnedFp8("w", pc, ps, rows, cols);
                if (panels) matrices[c] = matrices[c].PackPanels();
                continue;
            }
            if (format == WeightFormat.BF16)
            {
                // The release keeps every o_proj, the embeddings and lm_head in BF16.
                var halves = GC.AllocateUninitializedArray<ushort>(rows * cols, pinned: true);
                for (int i = 0; i < halves.Length; i++) halves[i] = BFloat16.FromFloat((float)(random.NextDouble() * 2 - 1));
                keepAlive.Add(halves);
                fixed (ushort* ph = halves) matrices[c] = WeightMatrix.FromPinnedBf16("w", ph, rows, cols);
                if (panels) matrices[c] = matrices[c].PackPanels();
                continue;
            }
            var data = GC.AllocateUninitializedArray<float>(rows * cols, pinned: true);
            for (int i = 0; i < data.Length; i++) data[i] = (float)(random.NextDouble() * 2 - 1);
            fixed (float* p = data) matrices[c] = WeightMatrix.FromPinned("w", p, rows, cols).Quantize(format);
        }
    }
    return matrices;
}

static unsafe void ReadAll(byte[] codes, int threads)
{
    ComputePool.For(threads, part =>
    {
        long length = codes.Length / threads / 64 * 64;
        fixed (byte* start = codes)
        {
            byte* p = start + part * length, end = p + length;
            var a = System.Runtime.Intrinsics.Vector128<int>.Zero;
            for (; p + 64 <= end; p += 64)
                a += System.Runtime.Intrinsics.Vector128.Load((int*)p) + System.Runtime.Intrinsics.Vector128.Load((int*)(p + 16))
                    + System.Runtime.Intrinsics.Vector128.Load((int*)(p + 32)) + System.Runtime.Intrinsics.Vector128.Load((int*)(p + 48));
            if (a == System.Runtime.Intrinsics.Vector128.Create(int.MinValue)) Console.Write(""); // keeps the loads
        }
    });
}
