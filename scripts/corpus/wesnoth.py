#!/usr/bin/env python3
# Extracts the story text and dialogue of Battle for Wesnoth campaigns (Debian wesnoth-1.16-<campaign>) from their
# WML .cfg files: [part] story= narration and [message] lines, rendered "Speaker: line" where the speaker resolves
# to a name (unit id -> name= within the campaign, or an id that is itself a name), plain otherwise. One document per
# scenario file (form-feed line between documents), headed by the scenario name; campaigns and files in sorted order.
# Written for MimoSharp's scripts/corpus.sh; stdlib only.
#   usage: wesnoth.py OUT.txt CAMPAIGN_DIR...
import os, re, sys

TOKEN = re.compile(r'\[(/?)\+?(\w+)\]|(\w+)[ \t]*=[ \t]*(?:_[ \t]*)?"((?:[^"]|"")*)"|(\w+)[ \t]*=[ \t]*([^\n"]*)')

def parse(text):
    """Yields (tag, attributes) for every closed WML tag, in closing order; attributes: key -> string."""
    text = "\n".join(l for l in text.split("\n") if not l.lstrip().startswith("#"))
    stack = []
    for m in TOKEN.finditer(text):
        if m.group(2):
            if m.group(1):
                if stack:
                    yield stack.pop()
            else:
                stack.append((m.group(2), {}))
        elif stack:
            key, value = (m.group(3), m.group(4).replace('""', '"')) if m.group(3) else (m.group(5), m.group(6).strip())
            stack[-1][1][key] = value

def clean(s):
    s = re.sub(r"</?(?:i|b|span|big|small|u|s)\b[^>]*>", "", s)
    return "\n".join(re.sub(r"[ \t]+", " ", l).strip() for l in s.strip().split("\n"))

def main():
    out, dirs = sys.argv[1], sorted(sys.argv[2:])
    docs = []
    for d in dirs:
        files = sorted(os.path.join(dp, f) for dp, _, fn in os.walk(d) for f in fn if f.endswith(".cfg"))
        parsed = {f: list(parse(open(f, encoding="utf-8", errors="replace").read())) for f in files}
        names = {}
        for tags in parsed.values():
            for _, a in tags:
                if a.get("id") and a.get("name") and not a["name"].startswith(("$", "{")):
                    names.setdefault(a["id"], a["name"])
        def speaker(sid):
            if sid in names:
                return names[sid]
            if re.fullmatch(r"[A-Z][\w'’ -]*", sid or "") and sid not in ("narrator",):
                return sid.replace("_", " ")
            return None
        for f in files:
            lines, title = [], None
            for tag, a in parsed[f]:
                if tag == "scenario" and a.get("name"):
                    title = clean(a["name"])
                elif tag == "part" and len(a.get("story", "")) > 1:
                    lines.append(clean(a["story"]))
                elif tag == "message" and len(a.get("message", "")) > 1:
                    who = speaker(a.get("speaker", "").strip('"'))
                    lines.append(f"{who}: {clean(a['message'])}" if who else clean(a["message"]))
            if lines:
                docs.append("\n\n".join(([title] if title else []) + lines))
    with open(out, "w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(doc + "\n\f\n")

main()
