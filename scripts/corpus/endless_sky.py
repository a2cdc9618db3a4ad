#!/usr/bin/env python3
# Extracts the prose of Endless Sky's data files (Debian endless-sky-data): mission conversations and dialogs
# (player choices as "- " lines), mission/planet/ship/outfit descriptions and spaceport texts. The files are
# tab-indented nodes whose text lines are one "quoted" or `backticked` token. One document per top-level node
# (mission "X", planet "Y", ...), form-feed line between documents; files in sorted order.
# Written for MimoSharp's scripts/corpus.sh; stdlib only.
#   usage: endless_sky.py DATA_DIR OUT.txt
import os, re, sys

TOKENS = re.compile(r'"[^"]*"|`[^`]*`|\S+')
TEXT_PARENTS = {"conversation", "dialog", "choice", "description", "spaceport"}   # nodes whose lone strings are prose
INLINE = {"description", "spaceport", "dialog"}                                   # keyword `text` on one line

def main():
    root, out = sys.argv[1], sys.argv[2]
    docs, paras = [], []
    files = sorted(os.path.join(dp, f) for dp, _, fn in os.walk(root) for f in fn if f.endswith(".txt"))
    for path in files:
        stack = []                                   # (depth, keyword) of the enclosing nodes
        for raw in open(path, encoding="utf-8", errors="replace"):
            body = raw.rstrip("\n").lstrip("\t")
            if not body.strip() or body.lstrip().startswith("#"):
                continue
            depth, toks = len(raw) - len(raw.lstrip("\t")), TOKENS.findall(body)
            while stack and stack[-1][0] >= depth:
                stack.pop()
            if depth == 0 and paras:
                docs.append("\n\n".join(paras)); paras = []
            quoted = toks[0][0] in "\"`" and toks[0][-1] == toks[0][0] and len(toks[0]) > 1
            if len(toks) == 1 and quoted and stack and stack[-1][1] in TEXT_PARENTS:
                text = toks[0][1:-1].strip()
                paras.append(("- " if stack[-1][1] == "choice" else "") + text)
            elif len(toks) == 2 and toks[0] in INLINE and toks[1][0] in "\"`" and len(toks[1]) > 2:
                paras.append(toks[1][1:-1].strip())
            stack.append((depth, toks[0].strip("\"`")))
        if paras:
            docs.append("\n\n".join(paras)); paras = []
    with open(out, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(d + "\n\f\n")

main()
