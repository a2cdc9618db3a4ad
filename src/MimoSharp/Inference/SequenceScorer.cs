using MimoSharp.Model;

namespace MimoSharp.Inference;

/// <summary>A prompt and the continuation to score after it.</summary>
public readonly record struct ScoringRequest(IReadOnlyList<int> Prompt, IReadOnlyList<int> Continuation);

/// <summary>
/// What the model assigns to a known continuation: log p(c_j | prompt, c_&lt;j) for every continuation token and,
/// when asked, the experts every MoE layer chose for every position of prompt + continuation.
/// </summary>
public sealed class ScoredSequence
{
    public required float[] LogProbs { get; init; }

    /// <summary>The experts of every position of prompt + continuation, or null when routing was not recorded.</summary>
    public RecordedRouting? Routing { get; init; }
}

/// <summary>
/// Scores continuations teacher-forced, several sequences in one forward pass. Rows are computed the same way
/// whatever else is in the pass and however the sequence is chunked, so the log-probabilities and expert choices
/// are the ones the engine had when it sampled the tokens (MOPD uses them as π_rollout and for routing replay).
/// </summary>
public static class SequenceScorer
{
    public static ScoredSequence[] Score(MimoModel model, IReadOnlyList<ScoringRequest> requests, bool recordRouting = false)
    {
        int h = model.HiddenSize, v = model.VocabSize;
        var segments = new BatchLayout.Segment[requests.Count];
        int rows = 0, logitRows = 0;
        for (int i = 0; i < requests.Count; i++)
        {
            var (prompt, continuation) = requests[i];
            DecodeSequence.ValidatePrompt(model, prompt);
            if (prompt.Count + continuation.Count > model.Config.MaxPositionEmbeddings)
                throw new ArgumentException($"sequence {i} has {prompt.Count + continuation.Count} tokens, more than max_position_embeddings ({model.Config.MaxPositionEmbeddings})");
            foreach (int id in continuation)
                if ((uint)id >= (uint)v) throw new ArgumentOutOfRangeException(nameof(requests), $"sequence {i}: continuation token id {id} is outside the vocabulary 0..{v - 1}");
            int length = prompt.Count + continuation.Count;
            segments[i] = new BatchLayout.Segment(rows, length, 0);
            rows += length;
            logitRows += continuation.Count;
        }
        var tokens = new int[rows];
        for (int i = 0; i < requests.Count; i++)
        {
            var (prompt, continuation) = requests[i];
            int at = segments[i].FirstRow;
            for (int j = 0; j < prompt.Count; j++) tokens[at + j] = prompt[j];
            for (int j = 0; j < continuation.Count; j++) tokens[at + prompt.Count + j] = continuation[j];
        }

        var routing = recordRouting ? new RecordedRouting(model.Config, rows) : null;
        var hidden = new float[(long)rows * h];
        var caches = requests.Select(_ => model.CreateCaches()).ToArray();
        model.Forward(tokens, new BatchLayout(segments), caches, hidden, routing);

        // Row p's logits predict token p + 1: the continuation's tokens are predicted by rows P-1 … P+C-2.
        var picked = new float[(long)logitRows * h];
        for (int i = 0, r = 0; i < requests.Count; i++)
        {
            int c = requests[i].Continuation.Count, first = segments[i].FirstRow + requests[i].Prompt.Count - 1;
            hidden.AsSpan(first * h, c * h).CopyTo(picked.AsSpan(r * h));
            r += c;
        }
        var logits = new float[(long)logitRows * v];
        model.Logits(picked, logitRows, logits);

        var results = new ScoredSequence[requests.Count];
        for (int i = 0, r = 0; i < requests.Count; i++)
        {
            var continuation = requests[i].Continuation;
            var logProbs = new float[continuation.Count];
            for (int j = 0; j < continuation.Count; j++, r++)
                logProbs[j] = LogSoftmaxAt(logits.AsSpan(r * v, v), continuation[j]);
            results[i] = new ScoredSequence { LogProbs = logProbs, Routing = routing?.Slice(segments[i].FirstRow, segments[i].Length) };
        }
        return results;
    }

    /// <summary>log softmax(logits)[index], accumulated in double.</summary>
    public static float LogSoftmaxAt(ReadOnlySpan<float> logits, int index)
    {
        float max = float.NegativeInfinity;
        foreach (float x in logits) max = Math.Max(max, x);
        double sum = 0;
        foreach (float x in logits) sum += Math.Exp(x - max);
        return (float)(logits[index] - max - Math.Log(sum));
    }
}
