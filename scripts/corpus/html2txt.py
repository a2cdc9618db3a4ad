#!/usr/bin/env python3
# Converts HTML documentation pages to plain corpus text: one document per page (form-feed line between documents),
# tags removed, entities decoded, whitespace collapsed outside <pre>, paragraphs separated by blank lines. Drops
# navigation (head/script/style/form and elements classed navheader, navfooter, docnav, nosearch, toc, ...), pages
# that are mostly link text (tables of contents, indexes), and boilerplate: short lines that recur on many pages of
# the same source (the first or last two lines of a fifth of its pages). Pages are taken in the order given, stopping once CAP bytes are written (0: no cap).
# Written for MimoSharp's scripts/corpus.sh; stdlib only.
#   usage: html2txt.py OUT.txt CAP_BYTES FILE...
import collections, re, sys
from html.parser import HTMLParser

SKIP_TAGS = {"head", "script", "style", "form", "select", "noscript", "svg"}
SKIP_CLASSES = {"navheader", "navfooter", "docnav", "nosearch", "toc", "navigation", "breadcrumbs", "footer",
                "header", "menu", "lot", "list-of-tables", "list-of-figures", "list-of-examples", "fancy_toc"}
DROP_LINES = re.compile(r"^[\w-]+: (?:hide|show)$|^This page last modified on ")   # sqlite diagram toggles, dates
BLOCK = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "table", "tr", "pre",
         "blockquote", "section", "article", "hr", "caption", "figure", "center"}

class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out, self.skip, self.pre, self.link, self.link_chars, self.chars = [], [], 0, 0, 0, 0

    def handle_starttag(self, tag, attrs):
        if self.skip:
            if tag == self.skip[-1][0]:
                self.skip[-1][1] += 1
            return
        classes = set((dict(attrs).get("class") or "").split())
        if tag in SKIP_TAGS or classes & SKIP_CLASSES:
            self.skip.append([tag, 1]); return
        if tag == "br":
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag in BLOCK:
            self.out.append("\n\n")
        if tag == "pre":
            self.pre += 1
        elif tag == "a":
            self.link += 1

    def handle_startendtag(self, tag, attrs):
        if not self.skip and tag in ("br", "hr"):
            self.out.append("\n")

    def handle_endtag(self, tag):
        if self.skip:
            if tag == self.skip[-1][0]:
                self.skip[-1][1] -= 1
                if self.skip[-1][1] == 0:
                    self.skip.pop()
            return
        if tag in BLOCK:
            self.out.append("\n\n")
        if tag == "pre" and self.pre:
            self.pre -= 1
        elif tag == "a" and self.link:
            self.link -= 1

    def handle_data(self, data):
        if self.skip:
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
        n = len(data.strip())
        self.chars += n
        if self.link:
            self.link_chars += n
        self.out.append(data)

def convert(path):
    raw = open(path, "rb").read().decode("utf-8", "replace")
    p = Page()
    p.feed(raw); p.close()
    if p.chars == 0 or p.link_chars > 0.5 * p.chars:
        return None                                   # a table of contents or an index
    text = "".join(p.out).replace("\ufffd", "").replace("\r", "")
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text)
    lines = [l.rstrip() for l in text.split("\n")]
    # outside <pre> lines were collapsed already; strip the single leading space the collapse leaves
    lines = [l[1:] if l.startswith(" ") and not l.startswith("  ") else l for l in lines]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")

def main():
    out, cap, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    pages = [t for t in map(convert, files) if t]
    # boilerplate: a line among the first or last two of at least a fifth of the pages (site banners, nav links)
    def ends(t):
        lines = [l for l in t.split("\n") if l.strip()]
        return set(lines[:2] + lines[-2:])
    counts = collections.Counter(l for t in pages for l in ends(t))
    limit = max(8, len(pages) // 5)
    boiler = {l for l, c in counts.items() if c >= limit and len(l) <= 200 and re.search(r"[A-Za-z]{3}", l)}
    for l in sorted(boiler, key=lambda l: -counts[l])[:15]:
        print(f"html2txt {out}: dropped boilerplate line ({counts[l]} pages): {l.strip()[:70]!r}", file=sys.stderr)
    written = 0
    with open(out, "w", encoding="utf-8") as f:
        for t in pages:
            if cap and written >= cap:
                break
            lines = t.split("\n")
            edge = ends(t)
            kept = (l for l in lines if not (l in boiler and l in edge) and not DROP_LINES.match(l))
            t = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip("\n")
            if t:
                doc = t + "\n\f\n"
                f.write(doc); written += len(doc.encode())
    print(f"html2txt {out}: {len(files)} files, {len(pages)} pages kept, {len(boiler)} boilerplate lines", file=sys.stderr)

main()
