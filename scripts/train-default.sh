#!/usr/bin/env bash
# Trains the repository's default model (models/default) on the corpus of scripts/corpus.sh: ~6,200 steps of
# 8 × 1024 tokens (≈ 50.8M tokens) with warm-up–stable–decay, bf16 matmuls, 2 threads. A run outlives sessions:
#
#   scripts/corpus.sh                                            # once per machine: .cache/corpus (≈ 2 min)
#   nohup scripts/train-default.sh > .cache/train-default.log 2>&1 &
#   scripts/train-default.sh --ship                              # copy the current checkpoint into models/default
#
# On the machine that ran it, it resumes .cache/default-run exactly (optimizer moments, data position). On a fresh
# machine it continues from the shipped models/default instead: --init-from its weights with a short warm-up of a
# fresh optimizer, for the steps the shipped training-state.json says remain, decaying at the same token count.
# Extra arguments go to `mimo train` (e.g. --max-steps-this-run 200).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="$root/.cache/default-run"
bin="$root/.cache/default-run-bin"   # a private copy of the build: rebuilding the tree must not swap DLLs under a running job
total_steps=6200 decay_steps=930 warmup=200
mimo() { dotnet "$bin/mimo.dll" "$@"; }

# Steps and tokens that earlier legs (runs on other machines, continued from shipped weights) already did.
leg_file="$run/training/continuation.json"
json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$@"; }

if [[ "${1:-}" == "--ship" ]]; then
  work_state="$(mktemp)"; trap 'rm -f "$work_state"' EXIT
  mkdir -p "$root/models/default"
  cp "$run/training/state.json" "$work_state"   # the state first: a save landing in between makes the check below fail
  cp "$run/config.json" "$run/model.safetensors" "$run/tokenizer.json" "$run/loss.svg" "$root/models/default/"
  python3 - "$root/models/default/model.safetensors" "$work_state" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
step, state = header.get("__metadata__", {}).get("mimo_train_step"), json.load(open(sys.argv[2]))["step"]
if str(state) != step:
    sys.exit(f"train-default: the model file is from step {step} but the state from step {state} (a save was in progress); ship again")
PY
  before_steps=0 before_tokens=0
  [[ -f "$leg_file" ]] && read -r before_steps before_tokens < <(json_get "$leg_file" 'str(d["steps"]) + " " + str(d["tokens"])')
  # The run's history plus where the whole run stands, so a fresh machine can continue it (see above).
  python3 - "$work_state" "$root/models/default/training-state.json" "$total_steps" "$before_steps" "$before_tokens" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
total, steps_before, tokens_before = (int(x) for x in sys.argv[3:6])
state["continuation"] = {
    "recipe": "scripts/train-default.sh",
    "total_steps": total,
    "steps_done": steps_before + state["step"],
    "tokens_done": tokens_before + state["tokens_seen"],
    "steps_before_this_leg": steps_before,
    "tokens_before_this_leg": tokens_before,
}
# Earlier legs' histories (written by hand when a leg began on a new machine) are kept across ships.
try:
    earlier = json.load(open(sys.argv[2])).get("earlier_legs")
except (OSError, ValueError):
    earlier = None
if earlier:
    state["earlier_legs"] = earlier
json.dump(state, open(sys.argv[2], "w"), indent=1)
PY
  echo "shipped $run to models/default"
  exit 0
fi

dotnet build "$root/src/MimoSharp.Cli" -c Release -v quiet -nologo
rm -rf "$bin" && cp -r "$root/src/MimoSharp.Cli/bin/Release/net10.0" "$bin"
[[ -f "$root/.cache/corpus/packed/meta.json" ]] || "$root/scripts/corpus.sh"

shipped="$root/models/default/training-state.json"
if [[ -f "$run/training/state.json" ]]; then
  # A leg continued from shipped weights resumes with the seed and warm-up it started with (they are in its settings).
  start=(--resume --seed 1)
  before=0
  if [[ -f "$leg_file" ]]; then
    before=$(json_get "$leg_file" 'd["steps"]')
    start=(--resume --seed "$((before + 1))")
    warmup=50
  fi
elif [[ -f "$shipped" ]] && json_get "$shipped" 'd.get("continuation", {}).get("recipe", "")' | grep -q train-default \
     && (( $(json_get "$shipped" 'd["continuation"]["steps_done"]') < total_steps )); then
  read -r before before_tokens < <(json_get "$shipped" 'str(d["continuation"]["steps_done"]) + " " + str(d["continuation"]["tokens_done"])')
  if (( before > total_steps - decay_steps )); then
    # A fresh optimizer needs a warm-up to the peak, which would re-heat a model already part-way down its decay.
    echo "train-default: the shipped run is in its decay (step $before of $total_steps); finish it on the machine that holds .cache/default-run" >&2
    exit 1
  fi
  echo "train-default: continuing the shipped run after step $before with a fresh optimizer (warm-up 50)" >&2
  mkdir -p "$run/training"
  printf '{"steps": %d, "tokens": %d}\n' "$before" "$before_tokens" > "$leg_file"
  start=(--init-from "$root/models/default" --seed "$((before + 1))")
  warmup=50
elif [[ -f "$shipped" ]] && json_get "$shipped" 'd.get("continuation", {}).get("recipe", "")' | grep -q train-default; then
  echo "train-default: the shipped run is finished ($total_steps steps); nothing to do" >&2
  exit 0
else
  start=(--config "$root/data/default-model-config.json" --mtp-layers 3 --seed 1)
  before=0
fi
remaining=$((total_steps - before))
fraction=$(python3 -c "print(min(1.0, $decay_steps / $remaining))")
mimo train --data "$root/.cache/corpus/packed" --out "$run" --steps "$remaining" --warmup "$warmup" --decay-fraction "$fraction" \
  --batch-size 8 --context 1024 --lr 2e-3 --min-lr-fraction 0.1 --weight-decay 0.1 --grad-clip 1.0 --mtp-weight 0.3 \
  --balance-gamma 0.01 --bf16 --threads 2 --eval-every 200 --eval-windows 48 --save-every 50 --log-every 10 "${start[@]}" "$@"
