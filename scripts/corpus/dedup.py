#!/usr/bin/env python3
# Deduplicates the corpus in place: splits every TEXT_DIR/*.txt (and the held-out evaluation texts EVAL_FILE...,
# read only) into documents at form-feed lines, and drops from the training texts every document shorter than MIN
# bytes or whose whitespace-normalized text (the header line naming a file excluded) was seen before: in an
# evaluation text, or in an earlier document (sources in sorted file order). Logs the counts per source.
# Written for MimoSharp's scripts/corpus.sh; stdlib only.
#   usage: dedup.py TEXT_DIR MIN_BYTES [EVAL_FILE...]
import hashlib, os, re, sys

SEP = "\n\f\n"
text_dir, min_bytes, evals = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def key(doc):
    body = doc.split("\n", 1)
    # a header line naming a file (path/name.ext) does not make two copies of the same file different
    if len(body) == 2 and re.fullmatch(r"\S+\.\w+", body[0]) and "/" in body[0]:
        doc = body[1]
    return hashlib.sha256(" ".join(doc.split()).encode()).digest()

def docs(path):
    return [d.strip("\n\f") for d in open(path, encoding="utf-8").read().split(SEP)]

seen = {key(d) for e in evals for d in docs(e) if d.strip()}
total_dup = total_short = 0
for name in sorted(os.listdir(text_dir)):
    if not name.endswith(".txt"):
        continue
    path = os.path.join(text_dir, name)
    kept, dup, short = [], 0, 0
    for d in docs(path):
        if not d.strip():
            continue
        if len(d.encode()) < min_bytes:
            short += 1; continue
        k = key(d)
        if k in seen:
            dup += 1; continue
        seen.add(k); kept.append(d)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(d + SEP for d in kept))
    total_dup += dup; total_short += short
    print(f"dedup {name}: kept {len(kept)} documents, dropped {dup} duplicates and {short} under {min_bytes} bytes", file=sys.stderr)
print(f"dedup: dropped {total_dup} duplicate and {total_short} short documents in all", file=sys.stderr)
