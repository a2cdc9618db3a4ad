using System.Buffers.Binary;
using System.Text;

namespace MimoSharp.Training.Compat;

/// <summary>
/// Reads and edits the version-needs table (<c>.gnu.version_r</c>) of a 64-bit little-endian ELF
/// shared library: which symbol versions it requires of which library, and whether each requirement
/// is weak (a weak requirement the system lacks does not stop the dynamic loader).
/// </summary>
internal static class ElfVersionNeeds
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlagWeak = 0x2;

    /// <summary>One required version: the library that should provide it, its name, its flags and where the flags live.</summary>
    public sealed record Requirement(string File, string Version, ushort Flags, long FlagsOffset)
    {
        public bool IsWeak => (Flags & VerFlagWeak) != 0;
    }

    public static List<Requirement> Read(string path) => Read(File.ReadAllBytes(path), path);

    public static List<Requirement> Read(byte[] elf, string path)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException($"{path} is not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException($"{path} is not a 64-bit little-endian ELF file");
        var span = elf.AsSpan();
        long shoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(span[0x28..]);
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3a..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3c..]);
        var result = new List<Requirement>();
        for (int s = 0; s < shnum; s++)
        {
            var sh = span[(int)(shoff + s * shentsize)..];
            if (BinaryPrimitives.ReadUInt32LittleEndian(sh[4..]) != ShtGnuVerneed) continue;
            long offset = (long)BinaryPrimitives.ReadUInt64LittleEndian(sh[0x18..]);
            int link = (int)BinaryPrimitives.ReadUInt32LittleEndian(sh[0x28..]);
            int count = (int)BinaryPrimitives.ReadUInt32LittleEndian(sh[0x2c..]);   // sh_info: number of Verneed entries
            var strtab = span[(int)(shoff + link * shentsize)..];
            long strOffset = (long)BinaryPrimitives.ReadUInt64LittleEndian(strtab[0x18..]);

            long need = offset;
            for (int n = 0; n < count; n++)
            {
                int auxCount = BinaryPrimitives.ReadUInt16LittleEndian(span[(int)(need + 2)..]);
                string file = CString(span, strOffset + BinaryPrimitives.ReadUInt32LittleEndian(span[(int)(need + 4)..]));
                long aux = need + BinaryPrimitives.ReadUInt32LittleEndian(span[(int)(need + 8)..]);
                for (int a = 0; a < auxCount; a++)
                {
                    ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(span[(int)(aux + 4)..]);
                    string name = CString(span, strOffset + BinaryPrimitives.ReadUInt32LittleEndian(span[(int)(aux + 8)..]));
                    result.Add(new Requirement(file, name, flags, aux + 4));
                    aux += BinaryPrimitives.ReadUInt32LittleEndian(span[(int)(aux + 12)..]);
                }
                need += BinaryPrimitives.ReadUInt32LittleEndian(span[(int)(need + 12)..]);
            }
        }
        return result;
    }

    /// <summary>
    /// Marks the requirement of <paramref name="version"/> from <paramref name="file"/> weak, editing two bytes in place.
    /// Returns false when it already was weak; throws when the library does not require that version at all.
    /// </summary>
    public static bool MarkWeak(string path, string file, string version)
    {
        var requirement = Read(path).FirstOrDefault(r => r.File == file && r.Version == version)
            ?? throw new InvalidDataException($"{path} does not require {version} from {file}");
        if (requirement.IsWeak) return false;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        stream.Position = requirement.FlagsOffset;
        Span<byte> flags = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(flags, (ushort)(requirement.Flags | VerFlagWeak));
        stream.Write(flags);
        stream.Flush(true);
        return true;
    }

    private static string CString(ReadOnlySpan<byte> data, long offset)
    {
        var rest = data[(int)offset..];
        int end = rest.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? rest : rest[..end]);
    }
}
