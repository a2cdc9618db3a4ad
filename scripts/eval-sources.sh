#!/usr/bin/env bash
# Held-out loss and bits per byte of a model on every corpus source's held-out share (PACKED/heldout/SOURCE.txt,
# written by `mimo corpus pack`) and on the source-disjoint eval texts, as one Markdown table.
#   scripts/eval-sources.sh MODEL_DIR [PACKED_CORPUS=.cache/corpus/packed] [MAX_TOKENS=20000] [CONTEXT=1024]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:?usage: eval-sources.sh MODEL_DIR [PACKED_CORPUS] [MAX_TOKENS] [CONTEXT]}"
packed="${2:-$root/.cache/corpus/packed}" max_tokens="${3:-20000}" context="${4:-1024}"
[[ -d "$packed/heldout" ]] || { echo "eval-sources: $packed/heldout is missing; pack the corpus again (mimo corpus pack writes it)" >&2; exit 1; }
dll="${MIMO_DLL:-$root/src/MimoSharp.Cli/bin/Release/net10.0/mimo.dll}"
echo "| text | tokens | loss | bits per byte |"
echo "|---|---|---|---|"
for f in "$packed"/heldout/*.txt "$root"/.cache/corpus/eval/*.txt; do
  [[ -f "$f" ]] || continue
  name="$(basename "$f" .txt)"; [[ "$f" == */eval/* ]] && name="$name (source-disjoint)"
  dotnet "$dll" eval --model "$model" --text-file "$f" --context "$context" --max-tokens "$max_tokens" --json 2>/dev/null \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print("| %s | %s | %.3f | %.3f |" % (sys.argv[1], format(d["tokens"], ","), d["loss"], d["bits_per_byte"]))' "$name"
done
