using MimoSharp.Inference;

namespace MimoSharp.Server.Engine;

/// <summary>
/// Where requests' prompts go to be decoded: <see cref="BatchScheduler"/> for a real model; tests put a
/// scripted one behind the same HTTP and IChatClient code to pin reasoning and tool-call handling.
/// </summary>
internal interface IGenerationQueue : IDisposable
{
    /// <summary>
    /// Queues a prompt (already validated against the model). Throws <see cref="ServerBusyException"/> when
    /// the queue is full; <paramref name="cancellation"/> cancels the sequence wherever it is.
    /// </summary>
    GenerationTicket Submit(IReadOnlyList<int> prompt, GenerationOptions options, CancellationToken cancellation);
}
