using MimoSharp.Config;
using MimoSharp.Training.Optim;
using MimoSharp.Training.Tests.Support;
using MimoSharp.Training.Pretraining;

namespace MimoSharp.Training.Tests.Pretraining;

public class ScheduleAndFlopsTests
{
    [Fact]
    public void WarmupStableDecayHoldsThePeakThenDecaysToTheFloor()
    {
        var s = new LearningRateSchedule(Peak: 2e-3, WarmupSteps: 10, TotalSteps: 100, MinFraction: 0.1, DecayFraction: 0.2);

        Assert.Equal(2e-4, s.At(0), 12);
        Assert.Equal(2e-3, s.At(9), 12);
        Assert.Equal(2e-3, s.At(50), 12);
        Assert.Equal(2e-3, s.At(79), 12);            // the decay is the last 20 steps
        Assert.True(s.At(81) < 2e-3);
        Assert.Equal(2e-4, s.At(100), 12);           // the floor at the end
        for (int step = 80; step < 100; step++) Assert.True(s.At(step + 1) <= s.At(step));
    }

    [Fact]
    public void ExtendingAWsdRunInItsStablePhaseChangesNoStepAlreadyTaken()
    {
        var planned = new LearningRateSchedule(2e-3, 10, 1000, 0.1, DecayFraction: 0.15);
        var extended = new LearningRateSchedule(2e-3, 10, 2000, 0.1, DecayFraction: 0.075);   // the same 150 decay steps, later

        for (int step = 0; step < 850; step++) Assert.Equal(planned.At(step), extended.At(step));
        var cosine = new LearningRateSchedule(2e-3, 10, 1000, 0.1);
        Assert.NotEqual(cosine.At(500), new LearningRateSchedule(2e-3, 10, 2000, 0.1).At(500));   // why WSD: cosine re-times every step
    }

    [Fact]
    public void TrainingFlopsCountTheMatmulsOfEveryBlockAndHead()
    {
        var config = MimoConfig.Parse(TinyRun.TinyConfig(300));
        double two = TrainingFlops.ForwardPerToken(config, mtpDepths: 2, context: 32);
        double none = TrainingFlops.ForwardPerToken(config, mtpDepths: 0, context: 32);
        double h = config.HiddenSize;
        double lmHead = 2 * h * config.VocabSize;

        Assert.True(none > lmHead);
        // Each MTP depth adds at least its eh_proj (2h → h) and its own lm_head pass.
        Assert.True(two - none >= 2 * (lmHead + 4 * h * h));
        // Attention grows with the context (global layers see every earlier key), and training is 3x the forward.
        Assert.True(TrainingFlops.ForwardPerToken(config, 0, 256) > none);
        Assert.Equal(3 * two, TrainingFlops.TrainingPerToken(config, 2, 32), 6);
    }
}
