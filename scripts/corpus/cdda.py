#!/usr/bin/env python3
# Extracts English prose from Cataclysm: Dark Days Ahead's JSON game data (Debian cataclysm-dda-data): item and
# monster descriptions, lore snippets, notes, NPC dialogue lines. Strings shorter than MINLEN characters and repeats
# are skipped, colour tags are removed; one document per JSON file (form-feed line between documents), files in
# sorted order, stopping once CAP bytes are written. Written for MimoSharp's scripts/corpus.sh; stdlib only.
#   usage: cdda.py ROOT OUT.txt MINLEN CAP_BYTES
import json, os, re, sys

KEYS = {"description", "text", "snippets", "message", "dynamic_line", "responses", "info", "memorial_message"}
root, out, minlen, cap = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
seen = set()

def walk(o, key, res):
    if isinstance(o, dict):
        for k, v in o.items():
            walk(v, key if k in ("str", "str_sp", "str_pl") else k, res)
    elif isinstance(o, list):
        for v in o:
            walk(v, key, res)
    elif isinstance(o, str) and key in KEYS:
        s = re.sub(r"</?color[^>]*>", "", o).strip()
        if len(s) >= minlen and s not in seen:
            seen.add(s); res.append(s)

files = sorted(os.path.join(dp, f) for dp, _, fn in os.walk(root) for f in fn if f.endswith(".json"))
written = 0
with open(out, "w", encoding="utf-8") as f:
    for path in files:
        if written >= cap:
            break
        res = []
        try:
            walk(json.load(open(path, encoding="utf-8")), None, res)
        except (ValueError, UnicodeDecodeError) as e:
            print(f"cdda: skipped {path}: {e}", file=sys.stderr)
        if res:
            doc = "\n\n".join(res) + "\n\f\n"
            f.write(doc); written += len(doc.encode())
