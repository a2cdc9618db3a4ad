#!/usr/bin/env bash
# The chat-format stage of the default model: a short fine-tune on synthetic dialogues in MiMo's chat format
# (scripts/corpus/dialogues.py: definitions, arithmetic with answers, explanations of Python functions, greetings)
# mixed with a replay of the pre-training text, so the model answers in the assistant turn and stops at <|im_end|>
# without forgetting its prose and code. Then it asks the held-out chat prompts through `mimo serve`.
#
#   scripts/train-chat.sh [--from DIR] [--out DIR] [--steps N] [--dialogues N] [extra `mimo train` arguments]
#
# Defaults: --from .cache/default-run (the main run's latest checkpoint), --out .cache/chat-run, 300 steps of
# 8 × 1024 tokens (≈ 2.5M tokens, about one pass over 12,000 dialogues and a 2% replay of every corpus source),
# peak lr 5e-4 (a quarter of the main run's) after 20 warm-up steps, decaying over the last half to 10%.
# Needs scripts/corpus.sh's .cache/corpus. Prints the chat evaluation; its transcript goes to OUT/chat-eval.txt.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
from="$root/.cache/default-run" out="$root/.cache/chat-run" steps=300 dialogues=12000
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --from) from="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --dialogues) dialogues="$2"; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
corpus="$root/.cache/corpus"
[[ -f "$corpus/packed/meta.json" ]] || { echo "train-chat: $corpus is missing; run scripts/corpus.sh first" >&2; exit 1; }
[[ -f "$from/model.safetensors" ]] || { echo "train-chat: $from holds no model.safetensors" >&2; exit 1; }

dll="$root/src/MimoSharp.Cli/bin/Release/net10.0/mimo.dll"
[[ -f "$dll" ]] || dotnet build "$root/src/MimoSharp.Cli" -c Release -v quiet -nologo >/dev/null
mimo() { dotnet "$dll" "$@"; }

stage="$root/.cache/chat"
rm -rf "$stage/text" && mkdir -p "$stage/text"
python3 "$root/scripts/corpus/dialogues.py" "$corpus/text" "$stage/text/dialogues.txt" "$stage/heldout.jsonl" "$dialogues" 1
# The replay: the first 2% of every pre-training source, cut at a line break.
python3 - "$corpus/text" "$stage/text/replay.txt" <<'PY'
import pathlib, sys
parts = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.txt")):
    text = path.read_text(encoding="utf-8")
    cut = text.find("\n", len(text) // 50)
    parts.append(text[:cut if cut > 0 else len(text) // 50] + "\n\f\n")
pathlib.Path(sys.argv[2]).write_text("".join(parts), encoding="utf-8")
PY
mimo corpus pack --input "$stage/text" --tokenizer "$corpus/tokenizer.json" --out "$stage/packed" --heldout 0.02 --special-tokens

[[ ! -e "$out" ]] || { echo "train-chat: $out exists; delete it or choose another --out" >&2; exit 1; }
mimo train --data "$stage/packed" --out "$out" --init-from "$from" --steps "$steps" --warmup 20 --decay-fraction 0.5 \
  --batch-size 8 --context 1024 --lr 5e-4 --min-lr-fraction 0.1 --weight-decay 0.1 --grad-clip 1.0 --mtp-weight 0.3 \
  --balance-gamma 0.01 --bf16 --threads 2 --eval-every 100 --eval-windows 24 --save-every 50 --log-every 10 "${extra[@]}"

MIMO_DLL="$dll" python3 "$root/scripts/chat-eval.py" "$out" "$stage/heldout.jsonl" 20 96 --transcript "$out/chat-eval.txt"
