#!/usr/bin/env python3
# Extracts a SWORD zText Bible module (OSIS markup, e.g. Debian's sword-text-web) into corpus text: one document
# per book (form-feed line between documents), chapters headed "Chapter N", the module's paragraphs kept,
# footnotes and Strong's-number markup dropped. Written for MimoSharp's scripts/corpus.sh; stdlib only.
#   usage: sword2txt.py MODULE_DIR OUT.txt
import html, os, re, struct, sys, zlib

def verses(moddir, testament):
    bzs, bzv, bzz = (open(os.path.join(moddir, testament + ext), "rb").read() for ext in (".bzs", ".bzv", ".bzz"))
    blocks = {}
    for i in range(0, len(bzv), 10):                 # verse index: block number, offset, size
        block, offset, size = struct.unpack("<IIH", bzv[i:i + 10])
        if size == 0:
            continue
        if block not in blocks:                      # block index: offset, compressed size, size
            start, length, _ = struct.unpack("<III", bzs[block * 12:block * 12 + 12])
            blocks[block] = zlib.decompress(bzz[start:start + length])
        yield blocks[block][offset:offset + size].decode("utf-8", "replace")

def render(osis):
    s = re.sub(r"<note\b[^>]*>.*?</note>", "", osis, flags=re.S)
    s = re.sub(r"<div\b[^>]*type=\"book\"[^>]*sID=[^>]*>|<div\b[^>]*sID=[^>]*type=\"book\"[^>]*>", "\0", s)
    s = re.sub(r"<chapter\b[^>]*\bn=\"(\d+)\"[^>]*sID=[^>]*>", r"\n\nChapter \1\n\n", s)
    s = re.sub(r"<title\b[^>]*>(.*?)</title>", r"\n\n\1\n\n", s, flags=re.S)
    s = re.sub(r"<div\b[^>]*type=\"x-p\"[^>]*/>|<lg\b[^>]*>|</lg>", "\n\n", s)
    s = re.sub(r"<l\b[^>]*sID=[^>]*>", "\n", s)
    s = html.unescape(re.sub(r"<[^>]+>", "", s))
    return s

def main():
    moddir, out = sys.argv[1], sys.argv[2]
    text = " ".join(render(v) for t in ("ot", "nt") for v in verses(moddir, t))
    docs = []
    for doc in text.split("\0"):
        paras = []
        for p in re.split(r"\n\s*\n", doc):
            lines = [re.sub(r"\s+", " ", l).strip() for l in p.split("\n")]
            p = "\n".join(l for l in lines if l)
            if p:
                paras.append(p)
        if paras:
            docs.append("\n\n".join(paras))
    with open(out, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(d + "\n\f\n")

main()
