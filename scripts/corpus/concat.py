#!/usr/bin/env python3
# Concatenates source files (NUL-separated paths on stdin, already in order) into one corpus text: each file is a
# document made of a header line naming it (its path less PREFIX), its text, and a form-feed separator line. Stops
# once CAP bytes are written (0: no cap). Files that are not UTF-8 text (NUL bytes, undecodable) are skipped.
# Written for MimoSharp's scripts/corpus.sh; stdlib only.
#   usage: find ... -print0 | sort -z | concat.py OUT.txt CAP_BYTES PREFIX
import sys

out, cap, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
written = skipped = 0
with open(out, "w", encoding="utf-8") as f:
    for path in sys.stdin.buffer.read().decode().split("\0"):
        if not path:
            continue
        if cap and written >= cap:
            break
        data = open(path, "rb").read()
        try:
            if b"\0" in data:
                raise ValueError("NUL byte")
            text = data.decode("utf-8")
        except ValueError:
            skipped += 1
            continue
        name = path[len(prefix):] if path.startswith(prefix) else path
        doc = f"{name}\n{text}\n\f\n"
        f.write(doc); written += len(doc.encode())
if skipped:
    print(f"concat {out}: skipped {skipped} non-UTF-8 files", file=sys.stderr)
