namespace MimoSharp.Text;

/// <summary>
/// GPT-2's byte-to-character map used by byte-level BPE: printable bytes stand for themselves, the other
/// 68 bytes are shifted to U+0100.., so every byte sequence is a string of visible characters (a space is 'Ġ').
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] s_byteToChar = new char[256];
    private static readonly short[] s_charToByte = new short[0x200];

    static ByteLevelAlphabet()
    {
        Array.Fill(s_charToByte, (short)-1);
        int shifted = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char)b : (char)(256 + shifted++);
            s_byteToChar[b] = c;
            s_charToByte[c] = (short)b;
        }
    }

    public static char ToChar(byte b) => s_byteToChar[b];

    /// <summary>The byte a character stands for, or -1 when the character is outside the alphabet.</summary>
    public static int ToByte(char c) => c < s_charToByte.Length ? s_charToByte[c] : -1;
}
