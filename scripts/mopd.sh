#!/usr/bin/env bash
# The MOPD study of docs/mopd.md, end to end: domain data → one teacher per domain (fine-tuned from the default
# model) → MOPD student, off-policy baseline and an R3-off ablation → the evaluation table. Each stage skips work
# whose output exists, and training stages resume, so rerunning after an interruption continues.
#
#   scripts/corpus.sh             # once (the domains are cut from its text)
#   scripts/mopd.sh [teachers|distill|eval|all]   (default: all)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$root/.cache/mopd"
bin="$work/bin"   # a private copy of the build: rebuilding the tree must not swap DLLs under a running job
stage="${1:-all}"
mimo() { dotnet "$bin/mimo.dll" "$@"; }
domains=(arithmetic code definitions)

dotnet build "$root/src/MimoSharp.Cli" -c Release -v quiet -nologo >&2
mkdir -p "$work" && rm -rf "$bin" && cp -r "$root/src/MimoSharp.Cli/bin/Release/net10.0" "$bin"
[[ -f "$root/.cache/corpus/text/wordnet.txt" ]] || "$root/scripts/corpus.sh"
[[ -f "$work/data/arithmetic.train.jsonl" ]] || mimo distill data --corpus "$root/.cache/corpus/text" --out "$work/data"

if [[ "$stage" == teachers || "$stage" == all ]]; then
  for d in "${domains[@]}"; do
    [[ -f "$work/packed/$d/meta.json" ]] || mimo corpus pack --input "$work/data/train/$d" --tokenizer "$root/models/default/tokenizer.json" --out "$work/packed/$d" --heldout 0.02 >&2
    resume=(--init-from "$root/models/default")
    [[ -f "$work/teachers/$d/training/state.json" ]] && resume=(--resume)
    # One compute thread: on a shared 2-core machine libtorch's thread pool collapses under contention.
    mimo train --data "$work/packed/$d" --out "$work/teachers/$d" "${resume[@]}" --steps 300 --batch-size 8 --context 128 \
      --lr 1e-3 --warmup 20 --min-lr-fraction 0.1 --weight-decay 0.1 --mtp-weight 0.3 --balance-gamma 0.001 --seed 1 \
      --eval-every 100 --eval-windows 32 --save-every 50 --log-every 10 --threads 1 --save-dtype f32
  done
fi
