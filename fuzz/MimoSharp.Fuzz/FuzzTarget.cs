namespace MimoSharp.Fuzz;

/// <summary>
/// One reader of outside data under fuzzing. <see cref="Run"/> feeds it one input: the input is either read
/// (accepted) or refused with the reader's own exception type and a message that names the file, tensor or
/// field (rejected). Anything else escapes <see cref="Run"/> as a finding: an unexpected exception type
/// (IndexOutOfRange, AccessViolation, NullReference, OutOfMemory...) or a refusal that names nothing.
/// </summary>
public abstract class FuzzTarget : IDisposable
{
    /// <summary>The name used on the command line, in scripts/fuzz.sh and as the regression folder's name.</summary>
    public abstract string Name { get; }

    /// <summary>Valid inputs the mutations start from (built at run time from the repository's own writers).</summary>
    public abstract IReadOnlyList<byte[]> Seeds { get; }

    /// <summary>Reads one input the way the product does; throws whatever the product throws.</summary>
    protected abstract void Read(ReadOnlySpan<byte> input);

    /// <summary>Whether <paramref name="e"/> is this reader's own refusal, with a message that names what is wrong and where.</summary>
    protected abstract bool IsRefusal(Exception e);

    /// <summary>The refusal of the last refused input (for replay).</summary>
    public Exception? LastRefusal { get; private set; }

    /// <summary>Feeds one input; returns whether it was accepted. A finding escapes as <see cref="FuzzFindingException"/>.</summary>
    public bool Run(ReadOnlySpan<byte> input)
    {
        try
        {
            Read(input);
            return true;
        }
        catch (Exception e) when (IsRefusal(e))
        {
            LastRefusal = e;
            return false;
        }
        catch (Exception e)
        {
            throw new FuzzFindingException(Name, e);
        }
    }

    /// <summary>Reads every byte a tensor claims, so an offset outside the mapping faults here rather than in a kernel.</summary>
    protected static int Touch(ReadOnlySpan<byte> bytes)
    {
        int x = 0;
        foreach (byte b in bytes) x ^= b;
        return x;
    }

    /// <summary>Whether a refusal names the file it read (or the model folder, for a tensor missing from it).</summary>
    protected bool NamesSource(Exception e, string file) =>
        e.Message.Contains(file, StringComparison.Ordinal) || (_scratch is not null && e.Message.StartsWith(_scratch, StringComparison.Ordinal));

    /// <summary>A scratch folder for this target's files, removed on dispose.</summary>
    protected string Scratch => _scratch ??= Directory.CreateTempSubdirectory($"mimo-fuzz-{Name}-").FullName;
    private string? _scratch;

    public virtual void Dispose()
    {
        if (_scratch is not null) try { Directory.Delete(_scratch, recursive: true); } catch (IOException) { }
        GC.SuppressFinalize(this);
    }

    /// <summary>Every target, for the command line and the test suite.</summary>
    public static FuzzTarget Create(string name) => name switch
    {
        "safetensors" => new Targets.SafetensorsTarget(),
        "index" => new Targets.ShardIndexTarget(),
        "gguf" => new Targets.GgufTarget(),
        "config" => new Targets.ConfigTarget(),
        "tokenizer" => new Targets.TokenizerTarget(),
        "chat-request" => new Targets.ChatRequestTarget(),
        _ => throw new ArgumentException($"unknown fuzz target '{name}' (expected one of {string.Join(", ", Names)})", nameof(name)),
    };

    public static IReadOnlyList<string> Names { get; } = ["safetensors", "index", "gguf", "config", "tokenizer", "chat-request"];
}

/// <summary>A reader failed in a way it must not: the original exception is the inner one.</summary>
public sealed class FuzzFindingException(string target, Exception inner)
    : Exception($"{target}: {inner.GetType().Name}: {inner.Message}", inner)
{
    public string Target { get; } = target;
}
