#!/usr/bin/env python3
# Extracts Jane Austen's six novels from the R package janeaustenr (Debian r-cran-janeaustenr) without R: the
# lazy-load database data/Rdata.rdb holds one zlib-compressed serialized character vector per novel (one line of
# the printed book per element, "" between paragraphs). Writes one document per novel (form-feed line between
# documents) with each paragraph's lines rejoined into one line. Written for MimoSharp's scripts/corpus.sh.
#   usage: austen.py Rdata.rdb OUT.txt
import re, struct, sys, zlib

def chunks(data):
    """Each object: 4-byte big-endian length, then a zlib stream (R's 'Z' compression)."""
    i = 0
    while i < len(data) - 6:
        if data[i + 4] == 0x78:
            try:
                d = zlib.decompressobj()
                yield d.decompress(data[i + 4:])
                i = len(data) - len(d.unused_data)
                continue
            except zlib.error:
                pass
        i += 1

def strings(blob):
    # CHARSXP: flags 0x00 0x0? 0x?0 0x09 (native / ASCII / UTF-8 encoding bits), int32 length, bytes; -1 = NA
    for m in re.finditer(rb"\x00[\x00\x04\x08][\x00\x40\x80]\x09(....)", blob, flags=re.S):
        n = struct.unpack(">i", m.group(1))[0]
        if 0 <= n < 100000:
            yield blob[m.end():m.end() + n].decode("utf-8", "replace")

def main():
    data = open(sys.argv[1], "rb").read()
    docs = []
    for blob in chunks(data):
        lines = list(strings(blob))
        if len(lines) < 1000:            # not a novel (names, attributes)
            continue
        paras, cur = [], []
        for line in lines + [""]:
            if line.strip():
                cur.append(line.strip())
            elif cur:
                paras.append(" ".join(cur)); cur = []
        docs.append("\n\n".join(paras))
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        for d in docs:
            f.write(d + "\n\f\n")
    print(f"austen: {len(docs)} novels", file=sys.stderr)

main()
