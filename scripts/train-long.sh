#!/usr/bin/env bash
# The context-extension stage of the default model, as MiMo-V2-Flash does it (pre-train short, then fine-tune longer
# with the global layers' RoPE base raised; plain RoPE, no YaRN): a short fine-tune at --context tokens on
#   - retrieval text (scripts/corpus/retrieval.py): corpus text with facts hidden between its lines and asked for
#     64 to --context tokens later, so using far-back context pays, and
#   - a replay of long contiguous stretches of every pre-training source, so prose and code are not forgotten (a
#     third of the tokens);
# then issue 14's passkey evaluation at 1k/4k/16k/32k tokens (mimo eval --passkey; its wording and filler are not in
# the training text).
#
#   scripts/train-long.sh [--from DIR] [--out DIR] [--context N] [--rope-theta B] [--steps N] [--batch N]
#                         [--lengths L1,L2,…] [--trials N] [--eval-only] [extra `mimo train` arguments]
#
# Defaults: --from .cache/default-run (the main run's latest checkpoint), --out .cache/long-run, context 16384,
# batch 1, 120 steps (≈ 2M tokens), peak lr 1e-3 after 10 warm-up steps, decaying over the last half to 10%, and
# --rope-theta = the model's global base × (context / the model's max_position_embeddings), the ratio the paper uses
# (640,000 → 5,000,000 for 32k → 256k). Needs scripts/corpus.sh's .cache/corpus. Writes OUT/passkey.json and
# OUT/passkey.txt (the table; --lengths and --trials change its lengths and keys per cell). --eval-only skips the
# training and evaluates --out as it is.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
from="$root/.cache/default-run" out="$root/.cache/long-run" context=16384 steps=120 batch=1 theta="" eval_only=0 lengths=1024,4096,16384,32768 trials=5
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --from) from="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --context) context="$2"; shift 2 ;;
    --rope-theta) theta="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --eval-only) eval_only=1; shift ;;
    --lengths) lengths="$2"; shift 2 ;;
    --trials) trials="$2"; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
corpus="$root/.cache/corpus"
dll="$root/src/MimoSharp.Cli/bin/Release/net10.0/mimo.dll"
[[ -f "$dll" ]] || dotnet build "$root/src/MimoSharp.Cli" -c Release -v quiet -nologo >/dev/null
mimo() { dotnet "$dll" "$@"; }
config_get() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

if [[ $eval_only == 0 ]]; then
  [[ -f "$corpus/packed/meta.json" ]] || { echo "train-long: $corpus is missing; run scripts/corpus.sh first" >&2; exit 1; }
  [[ -f "$from/model.safetensors" ]] || { echo "train-long: $from holds no model.safetensors" >&2; exit 1; }
  [[ ! -e "$out" ]] || { echo "train-long: $out exists; delete it or choose another --out" >&2; exit 1; }
  if [[ -z "$theta" ]]; then
    base="$(config_get "$from/config.json" rope_theta)" positions="$(config_get "$from/config.json" max_position_embeddings)"
    theta="$(python3 -c "print(int(float('$base') * max(1, $context / $positions)))")"
  fi

  stage="$root/.cache/long"
  rm -rf "$stage/text" "$stage/packed" && mkdir -p "$stage/text"
  # Two thirds of the tokens the stage trains on as retrieval text (at ~3 chars a token), one third replay.
  chars=$(( steps * batch * context ))
  python3 "$root/scripts/corpus/retrieval.py" "$corpus/text" "$stage/text/retrieval.txt" "$(( 2 * chars ))" "$context" 1
  # The replay: a contiguous stretch of every source, in proportion to its size, cut at line breaks.
  python3 - "$corpus/text" "$stage/text/replay.txt" "$chars" <<'PY'
import pathlib, random, sys
sources = sorted(pathlib.Path(sys.argv[1]).glob("*.txt"))
texts = [p.read_text(encoding="utf-8") for p in sources]
total, want, rng, parts = sum(map(len, texts)), int(sys.argv[3]), random.Random(2), []
for text in texts:
    n = max(1, want * len(text) // total)
    start = text.find("\n", rng.randrange(max(1, len(text) - n))) + 1
    parts.append(text[start:start + n] + "\n\f\n")
pathlib.Path(sys.argv[2]).write_text("".join(parts), encoding="utf-8")
PY
  mimo corpus pack --input "$stage/text" --tokenizer "$corpus/tokenizer.json" --out "$stage/packed" --heldout 0.02

  mimo train --data "$stage/packed" --out "$out" --init-from "$from" --context "$context" --rope-theta "$theta" \
    --steps "$steps" --batch-size "$batch" --warmup 10 --decay-fraction 0.5 --lr 1e-3 --min-lr-fraction 0.1 \
    --weight-decay 0.1 --grad-clip 1.0 --mtp-weight 0.3 --balance-gamma 0.01 --bf16 --threads 2 \
    --eval-every 0 --eval-windows 4 --save-every 20 --log-every 5 "${extra[@]}"
fi

# The passkey table: a copy of the model folder whose config admits the longest length plus the answer.
view="$(mktemp -d)"; trap 'rm -rf "$view"' EXIT
for f in "$out"/*; do [[ -f "$f" ]] && ln -s "$f" "$view/"; done
rm "$view/config.json"
python3 - "$out/config.json" "$view/config.json" "${lengths##*,}" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["max_position_embeddings"] = max(config["max_position_embeddings"], int(sys.argv[3]) + 64)
json.dump(config, open(sys.argv[2], "w"), indent=2)
PY
mimo eval --passkey --model "$view" --passkey-lengths "$lengths" --passkey-depths 0,0.25,0.5,0.75,1 \
  --passkey-trials "$trials" --threads 2 --json > "$out/passkey.json" 2> "$out/passkey-trials.log"
python3 - "$out/passkey.json" <<'PY' | tee "$out/passkey.txt"
import json, sys
r = json.load(open(sys.argv[1]))
print("length \\ depth " + "".join(f"{d:>8g}" for d in r["depths"]) + "  accuracy")
for length in r["lengths"]:
    cells = [c for c in r["cells"] if c["length"] == length]
    print(f"{length:<15,}" + "".join(f"{c['correct']}/{c['trials']}".rjust(8) for c in cells)
          + f"{100 * sum(c['correct'] for c in cells) / sum(c['trials'] for c in cells):9.0f}%")
print(f"overall {100 * r['overall_accuracy']:.1f}%; {r['prompt_tokens_per_s']:,.0f} prompt tokens/s")
PY
