namespace MimoSharp.Inference;

/// <summary>
/// Chooses how many MTP drafts the adaptive sequences of a batch propose in the next step, by expected tokens per
/// second: a step with K drafts yields E(K) = 1 + Σ_{i≤K} Π_{j≤i} a_j tokens per sequence (a_j: depth j's acceptance
/// rate given that the drafts before it were accepted) and costs T(K), the measured seconds of a whole step (draft
/// passes and the main pass over K+1 rows per sequence). The choice is E(K) / T(K) at its best.
/// <para>One depth per batch, not per sequence: the rows of a step share one read of the weights, so a step's time
/// is the batch's and no sequence can measure a cost of its own; the batch's tokens per second are what a depth
/// changes. Acceptance is pooled over the batch's sequences. Costs are kept per batch size (powers of two), since a
/// step's time and the worth of extra rows both depend on it.</para>
/// <para>Exploration is paid from a budget: every measured step adds <see cref="ExplorationShare"/> of its seconds, and a
/// probe (<see cref="ProbeSteps"/> steps at one depth) is charged what it cost beyond the best depth's rate for the same
/// tokens. The first step of a depth after plain steps also catches the MTP caches up on the last sliding window of
/// positions (up to window rows per depth and sequence; the drafter does it lazily, so plain steps keep no MTP state);
/// that is part of a probe's price, and it is why probes are rare. Before a depth has been measured, its cost comes from
/// the roofline (<see cref="DecodeRoofline"/>), and a depth the roofline says cannot pay even if every draft were
/// accepted is never tried. Every probe waits for the budget, even one the roofline favours: on a CPU the engine
/// reaches well under the roofline's speed-ups, so the roofline is an upper bound, not a forecast. Where speculation
/// never pays, the policy decodes plainly and spends at most that share of its time finding out again.</para>
/// </summary>
public sealed class AdaptiveDraftLength
{
    private const double Smoothing = 0.2;
    private const double PriorAcceptance = 0.5;

    /// <summary>A shallower depth replaces the current choice only when it is this much faster.</summary>
    private const double SwitchMargin = 0.03;

    /// <summary>
    /// A deeper depth must be this much faster: its cost comes from a few probe steps on a noisy machine, and being
    /// wrongly deeper costs more than being wrongly shallower (the bar is never to be slower than plain decoding).
    /// </summary>
    private const double DeeperMargin = 0.10;

    /// <summary>Steps a probe runs at its depth: the first catches up, the rest measure the steady cost.</summary>
    public const int ProbeSteps = 4;

    /// <summary>Steps after which a measured cost is old enough to measure again (when the budget allows).</summary>
    public const int StaleSteps = 1024;

    /// <summary>
    /// Steps over which a switch to a deeper depth must repay its catch-up: the deeper depth's gain over this many
    /// steps has to exceed the measured cost of catching its new MTP depths up, or the policy stays (no flapping).
    /// </summary>
    public const int SwitchHorizon = 256;

    private readonly int _maxDepth, _window, _layers;
    private readonly Func<int, int, double, DecodeRoofline>? _priorFactory;
    private DecodeRoofline? _prior;
    private readonly double[] _acceptance;   // a_j, j = 1..K (index j-1), pooled over the batch
    private readonly BatchCosts?[] _buckets = new BatchCosts?[32];
    private double _budget;                  // seconds of exploration earned and not yet spent
    private long _steps;
    private int _probeDepth = -1, _probeLeft;
    private int _chosen;                     // the last depth chosen on merit (not a probe)
    private int _lastDepth;                  // the last recorded step's depth
    private double _probeBaseline;           // seconds per token at the best depth when the probe began
    private double _probeSpent;              // the running probe's cost beyond that

    /// <param name="maxDepth">The deepest depth allowed (the MTP layers the sequences draft with).</param>
    /// <param name="prior">
    /// Makes the roofline that estimates depths not yet measured, from a batch size, a context and the measured plain
    /// step's seconds there (called once, when first needed); null: extrapolated from the measured depths.
    /// </param>
    /// <param name="slidingWindow">Positions an MTP depth catches up on after plain steps (its attention window).</param>
    /// <param name="mainLayers">Main decoder layers (an MTP pass over one row costs about a layer's worth of one).</param>
    /// <param name="explorationShare">Share of decoding time that probes may cost beyond the best depth.</param>
    public AdaptiveDraftLength(int maxDepth, Func<int, int, double, DecodeRoofline>? prior = null, int slidingWindow = 128, int mainLayers = 8,
        double explorationShare = 0.02)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDepth, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(explorationShare);
        _maxDepth = maxDepth;
        _priorFactory = prior;
        _window = Math.Max(1, slidingWindow);
        _layers = Math.Max(1, mainLayers);
        ExplorationShare = explorationShare;
        _acceptance = new double[maxDepth];
        Array.Fill(_acceptance, PriorAcceptance);
    }

    public double ExplorationShare { get; }

    /// <summary>The depth chosen for the last step (a probe's included).</summary>
    public int Current { get; private set; }

    /// <summary>Steps run as probes so far (depths tried to measure them, not because they were the best).</summary>
    public long ProbeStepCount { get; private set; }

    /// <summary>The measured costs of one batch size (a bucket of them).</summary>
    private sealed class BatchCosts(int maxDepth)
    {
        public readonly double[] StepSeconds = new double[maxDepth + 1];   // T(K), steady state; 0 = not measured
        public readonly long[] MeasuredAt = new long[maxDepth + 1];        // step of the last measurement
        public readonly double[] ProbeSeconds = new double[maxDepth + 1];  // what a probe at K cost beyond the best
        public readonly double[] RooflineSeconds = new double[maxDepth + 1];
        public readonly double[] RooflineBound = new double[maxDepth + 1]; // speed-up at full acceptance
        public double CatchUpSeconds;                                      // catching one MTP depth up, measured
        public int RooflineContext = -1;
    }

    private BatchCosts Bucket(int batch)
    {
        int b = Math.Min(_buckets.Length - 1, 31 - System.Numerics.BitOperations.LeadingZeroCount((uint)Math.Max(1, batch)));
        return _buckets[b] ??= new BatchCosts(_maxDepth);
    }

    /// <summary>The depth for the next step of <paramref name="batch"/> adaptive sequences at about <paramref name="context"/> tokens.</summary>
    public int Next(int batch, int context)
    {
        _steps++;
        var c = Bucket(batch);
        if (_probeLeft > 0)
        {
            _probeLeft--;
            ProbeStepCount++;
            return Current = _probeDepth;
        }
        _probeDepth = -1;
        if (c.StepSeconds[0] == 0) return Current = 0;   // plain first: every estimate is relative to it
        UpdateRoofline(c, batch, context);
        int best = Best(c);
        var (candidate, need) = Candidate(c, best);
        if (candidate >= 0 && _prior is null && _priorFactory is not null && _budget >= need)
        {
            // The roofline prior is itself exploration: its short measurement is paid from the budget, when first needed.
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            _prior = _priorFactory(batch, Math.Max(1, context), c.StepSeconds[0]);
            _budget -= System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
            UpdateRoofline(c, batch, context);
            (candidate, need) = Candidate(c, best);
        }
        _chosen = best;
        if (candidate < 0) return Current = best;
        _budget = Math.Min(_budget, 2 * need);   // no bursts of probes after a long quiet spell
        if (_budget < need) return Current = best;
        _probeDepth = candidate;
        _probeLeft = ProbeSteps - 1;
        _probeBaseline = c.StepSeconds[best] / ExpectedTokens(best);
        _probeSpent = 0;
        ProbeStepCount++;
        return Current = candidate;
    }

    /// <summary>
    /// The depth worth probing next and what the probe is expected to cost, or -1. Depths are climbed one at a time (a deep probe is the costliest step there is):
    /// depth 1 first, then the next deeper one when the measurements so far predict it beats the best; never one the
    /// roofline says cannot pay even at full acceptance. A measured depth is probed again when predicted to beat the
    /// best or measured more than <see cref="StaleSteps"/> ago.
    /// </summary>
    private (int Depth, double Need) Candidate(BatchCosts c, int best)
    {
        double bestSecondsPerToken = c.StepSeconds[best] / ExpectedTokens(best);
        int deepest = 0;
        for (int k = 1; k <= _maxDepth; k++) if (c.StepSeconds[k] > 0) deepest = k;
        int candidate = -1;
        double candidateRate = 0, need = 0;
        for (int k = 0; k <= Math.Min(_maxDepth, deepest + 1); k++)
        {
            if (k == best || (k > 0 && _prior is not null && c.RooflineBound[k] <= 1)) continue;   // cannot pay here
            double rate = ExpectedTokens(k) / Cost(c, k);
            // Plain steps are re-measured more often while drafting: a probe of them catches nothing up, and the load on
            // a shared machine drifts, so T(0) and T(K) should come from about the same time.
            bool measured = c.StepSeconds[k] > 0, stale = measured && _steps - c.MeasuredAt[k] > (k == 0 ? StaleSteps / 16 : StaleSteps);
            // Known not to pay, or predicted not to from a shallower depth's measurement: not worth a probe.
            if ((measured ? !stale : deepest > 0) && rate * bestSecondsPerToken <= 1) continue;
            if (rate <= candidateRate) continue;
            candidate = k;
            candidateRate = rate;
            need = ExpectedProbeSeconds(c, k, best);
        }
        return (candidate, need);
    }

    /// <summary>
    /// The measured depth with the best expected tokens per second. The one chosen before stays unless another beats it
    /// by <see cref="SwitchMargin"/> (a deeper one by <see cref="DeeperMargin"/>, and it must repay catching its new MTP
    /// depths up within <see cref="SwitchHorizon"/> steps).
    /// </summary>
    private int Best(BatchCosts c)
    {
        int best = 0;
        double bestRate = 1 / c.StepSeconds[0];
        for (int k = 1; k <= _maxDepth; k++)
        {
            if (c.StepSeconds[k] == 0) continue;
            double rate = ExpectedTokens(k) / c.StepSeconds[k];
            if (rate > bestRate) { best = k; bestRate = rate; }
        }
        int current = Math.Min(_chosen, _maxDepth);
        if (best == current || c.StepSeconds[current] == 0) return best;
        double currentRate = ExpectedTokens(current) / c.StepSeconds[current];
        if (currentRate * (1 + (best > current ? DeeperMargin : SwitchMargin)) >= bestRate) return current;
        if (best > current && SwitchHorizon * c.StepSeconds[best] * (bestRate / currentRate - 1) < CatchUp(c) * (best - current))
            return current;
        return best;
    }

    /// <summary>Seconds to catch one MTP depth up after plain steps: measured, or a window of rows at a main layer's share of a plain row.</summary>
    private double CatchUp(BatchCosts c) => c.CatchUpSeconds > 0 ? c.CatchUpSeconds : _window * c.StepSeconds[0] / _layers;

    /// <summary>
    /// Records a step of the batch's adaptive sequences at <paramref name="depth"/>: its seconds (drafts, main pass,
    /// verification), the tokens they emitted, whether it had prefill rows and whether an MTP depth caught up on more
    /// than one step's tokens. Only a step with neither is the depth's cost; one that caught up (and had no prefill)
    /// measures the catch-up.
    /// </summary>
    public void RecordStep(int depth, int batch, double seconds, int tokens, bool prefill, bool caughtUp)
    {
        var c = Bucket(batch);
        int newDepths = Math.Max(1, depth - _lastDepth);
        _lastDepth = depth;
        if (!prefill && !caughtUp)
        {
            Update(ref c.StepSeconds[depth], seconds);
            c.MeasuredAt[depth] = _steps;
        }
        else if (!prefill && depth > 0 && c.StepSeconds[depth] > 0)
            Update(ref c.CatchUpSeconds, Math.Max(1e-9, (seconds - c.StepSeconds[depth]) / newDepths));
        _budget += ExplorationShare * seconds;
        if (_probeDepth != depth) return;
        // A probe pays what its tokens would have cost less at the best depth (a probe that wins costs nothing).
        _probeSpent += seconds - (double)tokens / Math.Max(1, batch) * _probeBaseline;
        if (_probeLeft > 0) return;
        _budget -= _probeSpent;
        c.ProbeSeconds[depth] = Math.Max(_probeSpent, 1e-9);
        _probeDepth = -1;
    }

    /// <summary>Updates the conditional acceptance rates from one sequence's step: depth j was tried iff drafts 1..j-1 were accepted.</summary>
    public void RecordAcceptance(int proposed, int accepted)
    {
        for (int j = 1; j <= Math.Min(accepted + 1, proposed); j++)
            _acceptance[j - 1] += Smoothing * ((j <= accepted ? 1 : 0) - _acceptance[j - 1]);
    }

    /// <summary>E(K): tokens a step with K drafts is expected to yield per sequence.</summary>
    public double ExpectedTokens(int k)
    {
        double e = 1, chain = 1;
        for (int j = 1; j <= k; j++)
        {
            chain *= _acceptance[j - 1];
            e += chain;
        }
        return e;
    }

    /// <summary>Seconds of a step with K drafts at <paramref name="batch"/> sequences (NaN before a plain step was measured).</summary>
    public double Cost(int batch, int k)
    {
        var c = Bucket(batch);
        return c.StepSeconds[0] == 0 ? double.NaN : Cost(c, k);
    }

    /// <summary>
    /// T(K): measured, or else estimated: the deepest measured depth's extra seconds over plain, scaled to K by the
    /// roofline's ratio of extra seconds (linearly in K without a roofline); with nothing measured beyond plain, the
    /// roofline's ratio to plain (without a roofline: one more plain step per depth).
    /// </summary>
    private double Cost(BatchCosts c, int k)
    {
        if (c.StepSeconds[k] > 0) return c.StepSeconds[k];
        double plain = c.StepSeconds[0];
        int m = 0;
        for (int i = 1; i <= _maxDepth; i++) if (c.StepSeconds[i] > 0) m = i;
        bool roof = _prior is not null && c.RooflineContext >= 0 && c.RooflineSeconds[k] > 0 && c.RooflineSeconds[m] > 0;
        if (m == 0)
            return roof ? plain * c.RooflineSeconds[k] / c.RooflineSeconds[0] : plain * (1 + k);
        double extra = c.StepSeconds[m] - plain;
        double scale = roof ? (c.RooflineSeconds[k] - c.RooflineSeconds[0]) / (c.RooflineSeconds[m] - c.RooflineSeconds[0]) : (double)k / m;
        return plain + extra * (double.IsFinite(scale) ? scale : (double)k / m);
    }

    /// <summary>
    /// What a probe at K is expected to cost beyond the best depth: measured before, or its steps at the estimated
    /// cost plus catching each new depth up on a window of rows, each about one main layer's share of a plain row.
    /// </summary>
    private double ExpectedProbeSeconds(BatchCosts c, int k, int best)
    {
        if (c.ProbeSeconds[k] > 0) return c.ProbeSeconds[k];
        double steps = ProbeSteps * Math.Max(0, Cost(c, k) - c.StepSeconds[best] * ExpectedTokens(k) / ExpectedTokens(best));
        int newDepths = Math.Max(0, k - Math.Max(0, best));
        return steps + newDepths * _window * c.StepSeconds[0] / _layers;
    }

    /// <summary>The roofline's step seconds per depth at this batch and context (recomputed as the context grows a quarter).</summary>
    private void UpdateRoofline(BatchCosts c, int batch, int context)
    {
        if (_prior is null || (c.RooflineContext >= 0 && context <= c.RooflineContext * 5 / 4 && context >= c.RooflineContext * 4 / 5)) return;
        c.RooflineContext = Math.Max(1, context);
        for (int k = 0; k <= _maxDepth; k++)
        {
            // Depths beyond the model's MTP layers (another draft source) have no roofline: neither pruned nor estimated.
            bool costed = k <= _prior.MtpDepths;
            c.RooflineSeconds[k] = costed ? _prior.Step(batch, c.RooflineContext, k, ExpectedTokens(k)).Seconds : 0;
            c.RooflineBound[k] = k == 0 || !costed ? double.PositiveInfinity : _prior.Speedup(batch, c.RooflineContext, k, k + 1);
        }
    }

    /// <summary>The acceptance length at which K drafts per step decode exactly as fast as plain decoding.</summary>
    public double BreakEvenAcceptanceLength(int batch, int k) => Cost(batch, k) / Cost(batch, 0);

    private static void Update(ref double estimate, double sample) =>
        estimate = estimate == 0 ? sample : estimate + Smoothing * (sample - estimate);
}
