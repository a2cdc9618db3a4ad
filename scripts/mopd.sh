#!/usr/bin/env bash
# The MOPD study of docs/mopd.md, end to end: domain data → one teacher per domain (fine-tuned from the default
# model) → MOPD student, off-policy baseline and an R3-off ablation → the evaluation table. Each stage skips work
# whose output exists, and training stages resume, so rerunning after an interruption continues.
#
#   scripts/corpus.sh             # once (the domains are cut from its text)
#   scripts/mopd.sh [teachers|distill|eval|all] [DOMAIN…]   (default: all; DOMAIN… limits the teachers stage)
#
# Outputs under .cache/mopd: data/ (prompt files), teachers/NAME, students/{mopd,offpolicy,no-r3}, eval/*.json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$root/.cache/mopd"
bin="$work/bin"   # a private copy of the build: rebuilding the tree must not swap DLLs under a running job
stage="${1:-all}"
shift || true
only=("$@")
mimo() { dotnet "$bin/mimo.dll" "$@"; }
domains=(arithmetic code definitions)

dotnet build "$root/src/MimoSharp.Cli" -c Release -v quiet -nologo >&2
mkdir -p "$work" && rm -rf "$bin" && cp -r "$root/src/MimoSharp.Cli/bin/Release/net10.0" "$bin"
[[ -f "$root/.cache/corpus/text/wordnet.txt" ]] || "$root/scripts/corpus.sh"
[[ -f "$work/data/arithmetic.train.jsonl" ]] || mimo distill data --corpus "$root/.cache/corpus/text" --out "$work/data"

if [[ "$stage" == teachers || "$stage" == all ]]; then
  for d in "${only[@]:-${domains[@]}}"; do
    [[ -f "$work/packed/$d/meta.json" ]] || mimo corpus pack --input "$work/data/train/$d" --tokenizer "$root/models/default/tokenizer.json" --out "$work/packed/$d" --heldout 0.02 >&2
    # 300 steps per teacher; arithmetic then continues to 1000 and 1500 (the cosine re-timed each time), since carrying digits takes a
    # tiny model far longer than picking up a style or a vocabulary.
    # Fine-tuning at the base's own peak rate would wreck what it knows; arithmetic has little to keep and much to learn.
    phases=(300) lr=3e-4
    [[ "$d" == arithmetic ]] && phases=(300 1000 1500) lr=1e-3
    for steps in "${phases[@]}"; do
      start=(--init-from "$root/models/default")
      if [[ -f "$work/teachers/$d/training/state.json" ]]; then
        done_steps=$(sed -n 's/^  "step": \([0-9]*\),/\1/p' "$work/teachers/$d/training/state.json")
        (( done_steps >= steps )) && continue
        start=(--resume)
      fi
      # One compute thread: on a shared 2-core machine libtorch's thread pool collapses under contention.
      mimo train --data "$work/packed/$d" --out "$work/teachers/$d" "${start[@]}" --steps "$steps" --batch-size 8 --context 128 \
        --lr "$lr" --warmup 20 --min-lr-fraction 0.1 --weight-decay 0.1 --mtp-weight 0.3 --balance-gamma 0.001 --seed 1 \
        --eval-every 100 --eval-windows 32 --save-every 50 --log-every 10 --threads 1 --save-dtype f32
    done
  done
fi

teachers=() prompts=() evals=()
for d in "${domains[@]}"; do
  teachers+=(--teacher "$d=$work/teachers/$d")
  prompts+=(--prompts "$d=$work/data/$d.train.jsonl")
  evals+=(--eval "$d=$work/data/$d.heldout.jsonl")
done

if [[ "$stage" == distill || "$stage" == all ]]; then
  # The same prompts, steps and sampled-token budget for all three: MOPD, the off-policy baseline, and MOPD without
  # R3. They run side by side on one thread each (logs in students/RUN.log).
  common=(--student "$root/models/default" "${teachers[@]}" "${prompts[@]}" "${evals[@]}" --steps 80 --prompts-per-step 24
          --mini-batches 2 --lr 2e-4 --warmup 5 --is-cap 2 --mtp-weight 0.1 --eval-every 10 --eval-prompts 64 --save-every 10
          --seed 1 --threads 1)
  mkdir -p "$work/students"
  pids=()
  for run in mopd offpolicy no-r3; do
    extra=()
    [[ "$run" == offpolicy ]] && extra=(--off-policy)
    [[ "$run" == no-r3 ]] && extra=(--no-routing-replay)
    [[ -f "$work/students/$run/training/distill-state.json" ]] && extra+=(--resume)
    mimo distill "${common[@]}" "${extra[@]}" --out "$work/students/$run" > "$work/students/$run.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || { echo "a distillation run failed: see $work/students/*.log" >&2; exit 1; }; done
fi

if [[ "$stage" == eval || "$stage" == all ]]; then
  mkdir -p "$work/eval"
  models=(base="$root/models/default")
  for d in "${domains[@]}"; do models+=("teacher-$d=$work/teachers/$d"); done
  for run in mopd offpolicy no-r3; do [[ -d "$work/students/$run" ]] && models+=("student-$run=$work/students/$run"); done
  for entry in "${models[@]}"; do
    name="${entry%%=*}" dir="${entry#*=}"
    echo "eval: $name" >&2
    mimo distill eval --model "$dir" "${teachers[@]}" "${evals[@]}" --eval-prompts 200 --threads 1 --json > "$work/eval/$name.json"
  done
fi
