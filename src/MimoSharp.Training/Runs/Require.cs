namespace MimoSharp.Training.Runs;

/// <summary>Option checks that stop a run before it starts, with the message the user sees.</summary>
internal static class Require
{
    public static void That(bool ok, string message)
    {
        if (!ok) throw new ArgumentException(message);
    }
}
