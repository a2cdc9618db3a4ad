#!/usr/bin/env bash
# Trains the repository's default model (models/default) from scratch on the corpus of scripts/corpus.sh.
# Resumable: run it again after an interruption and it continues from the last checkpoint (every 50 steps).
#
#   scripts/corpus.sh                      # once: .cache/corpus/packed (4096-id truncated Qwen3 vocabulary)
#   nohup scripts/train-default.sh > .cache/train-default.log 2>&1 &
#   scripts/train-default.sh --ship        # copy the finished checkpoint into models/default
#
# Extra arguments go to `mimo train` (e.g. --steps 2000 to train longer; the cosine schedule is re-timed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="$root/.cache/default-run"
bin="$root/.cache/default-run-bin"   # a private copy of the build: rebuilding the tree must not swap DLLs under a running job
mimo() { dotnet "$bin/mimo.dll" "$@"; }

if [[ "${1:-}" == "--ship" ]]; then
  mkdir -p "$root/models/default"
  cp "$run/config.json" "$run/model.safetensors" "$run/tokenizer.json" "$run/loss.svg" "$root/models/default/"
  cp "$run/training/state.json" "$root/models/default/training-state.json"
  echo "shipped $run to models/default"
  exit 0
fi

dotnet build "$root/src/MimoSharp.Cli" -c Release -v quiet -nologo
rm -rf "$bin" && cp -r "$root/src/MimoSharp.Cli/bin/Release/net10.0" "$bin"
[[ -f "$root/.cache/corpus/packed/meta.json" ]] || "$root/scripts/corpus.sh"
resume=()
[[ -f "$run/training/state.json" ]] && resume=(--resume)

# One compute thread: on a shared 2-core machine libtorch's thread pool collapses under contention.
mimo train --data "$root/.cache/corpus/packed" --out "$run" --config "$root/data/default-model-config.json" \
  --mtp-layers 3 --steps 600 --batch-size 8 --context 256 --lr 2e-3 --warmup 50 --min-lr-fraction 0.1 \
  --weight-decay 0.1 --grad-clip 1.0 --mtp-weight 0.3 --balance-gamma 0.01 --seed 1 \
  --eval-every 100 --eval-windows 64 --save-every 50 --log-every 10 --threads 1 "${resume[@]}" "$@"
