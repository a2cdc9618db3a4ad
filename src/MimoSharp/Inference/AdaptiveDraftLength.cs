namespace MimoSharp.Inference;

/// <summary>
/// Chooses how many MTP drafts to propose per step from measured costs, so that speculation pays.
/// A step with K drafts costs the K draft passes plus one main pass over K+1 rows and yields
/// E(K) = 1 + Σ_{i≤K} Π_{j≤i} a_j tokens, where a_j is depth j's acceptance rate given that the drafts
/// before it were accepted. Plain decoding yields 1 token per one-row pass, so K pays when
/// E(K) / cost(K) &gt; 1 / cost(0): the break-even acceptance length of K is cost(K) / cost(0).
/// Each step uses the K with the best expected tokens per second among the depths measured so far. Probes
/// keep the estimates current and climb one depth at a time (a deep probe is the most expensive step there
/// is); a probe that does not change the choice doubles the interval to the next one, so a model whose
/// drafts do not pay spends a vanishing share of its steps on them.
/// </summary>
public sealed class AdaptiveDraftLength
{
    private const double Smoothing = 0.2;
    public const int ProbeInterval = 16;
    private const int MaxProbeInterval = 512;

    private readonly int _maxDepth;
    private readonly double[] _acceptance;   // a_j, j = 1..K (index j-1)
    private readonly double[] _draftSeconds; // per depth
    private readonly double[] _verifySeconds; // per row count r = 1..K+1 (index r-1); 0 = not measured yet
    private int _steps;
    private int _interval = ProbeInterval;
    private int _nextProbe = ProbeInterval;
    private int _choiceBeforeProbe = -1;

    public AdaptiveDraftLength(int maxDepth)
    {
        _maxDepth = maxDepth;
        _acceptance = Enumerable.Repeat(0.5, maxDepth).ToArray();
        _draftSeconds = new double[maxDepth];
        _verifySeconds = new double[maxDepth + 1];
    }

    /// <summary>The draft depth chosen for the last step.</summary>
    public int Current { get; private set; }

    /// <summary>Drafts to propose in the next step.</summary>
    public int Next()
    {
        _steps++;
        // Warm-up alternates plain steps and one-draft steps to measure both costs.
        if (_steps <= 4 || _verifySeconds[0] == 0 || _verifySeconds[1] == 0)
            return Current = _steps % 2 == 1 ? 0 : 1;
        int measured = MeasuredDepth();
        int best = Best(measured);
        if (_choiceBeforeProbe >= 0)
        {
            // The last step was a probe: back off when it changed nothing.
            _interval = best == _choiceBeforeProbe ? Math.Min(_interval * 2, MaxProbeInterval) : ProbeInterval;
            _choiceBeforeProbe = -1;
        }
        if (_steps >= _nextProbe)
        {
            _nextProbe = _steps + _interval;
            _choiceBeforeProbe = best;
            return Current = Math.Min(_maxDepth, Math.Max(1, best == measured ? measured + 1 : best));
        }
        return Current = best;
    }

    /// <summary>The deepest K whose verify cost has been measured.</summary>
    private int MeasuredDepth()
    {
        int k = 0;
        for (int i = 1; i <= _maxDepth; i++) if (_verifySeconds[i] > 0) k = i;
        return k;
    }

    private int Best(int upTo)
    {
        int best = 0;
        double bestRate = 1 / _verifySeconds[0];
        for (int k = 1; k <= upTo; k++)
        {
            double rate = ExpectedTokens(k) / Cost(k);
            if (rate > bestRate) { best = k; bestRate = rate; }
        }
        return best;
    }

    public void RecordDraft(int depth, double seconds) => Update(ref _draftSeconds[depth], seconds);

    public void RecordVerify(int rows, double seconds) => Update(ref _verifySeconds[rows - 1], seconds);

    /// <summary>Updates the conditional acceptance rates: depth j was tried iff drafts 1..j-1 were accepted.</summary>
    public void RecordAcceptance(int proposed, int accepted)
    {
        for (int j = 1; j <= Math.Min(accepted + 1, proposed); j++)
            _acceptance[j - 1] += Smoothing * ((j <= accepted ? 1 : 0) - _acceptance[j - 1]);
    }

    /// <summary>E(K): tokens a step with K drafts is expected to yield.</summary>
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

    /// <summary>Seconds of a step with K drafts; unmeasured row counts are interpolated linearly.</summary>
    public double Cost(int k)
    {
        double draft = 0;
        for (int j = 0; j < k; j++) draft += _draftSeconds[j];
        double verify = _verifySeconds[k];
        if (verify == 0)
        {
            // Unmeasured: extrapolate linearly in rows from the plain step and the deepest measured step.
            int m = MeasuredDepth();
            double one = _verifySeconds[0], deep = m > 0 ? _verifySeconds[m] : one;
            verify = one + (deep - one) * k / Math.Max(1, m);
        }
        return draft + verify;
    }

    /// <summary>The acceptance length at which K drafts per step decode exactly as fast as plain decoding.</summary>
    public double BreakEvenAcceptanceLength(int k) => _verifySeconds[0] > 0 ? Cost(k) / _verifySeconds[0] : double.NaN;

    private static void Update(ref double estimate, double sample) =>
        estimate = estimate == 0 ? sample : estimate + Smoothing * (sample - estimate);
}
