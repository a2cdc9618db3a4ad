namespace MimoSharp.Checkpoints;

/// <summary>A checkpoint file or tensor is missing, malformed, or not what the model expects.</summary>
public sealed class CheckpointException(string message) : Exception(message);
