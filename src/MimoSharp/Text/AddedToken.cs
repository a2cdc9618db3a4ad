namespace MimoSharp.Text;

/// <summary>
/// A token from tokenizer.json's "added_tokens": matched in the raw text before BPE runs. Special ones
/// (<c>&lt;|im_start|&gt;</c>) are control tokens; non-special ones (<c>&lt;think&gt;</c>, <c>&lt;tool_call&gt;</c>)
/// are matched the same way but count as text when decoding with skipSpecial.
/// </summary>
public sealed record AddedToken(int Id, string Content, bool Special, bool Normalized, bool LStrip, bool RStrip);
