#!/usr/bin/env bash
# A/B of training throughput: alternates two builds of `mimo` (old, new) on the default recipe's settings
# (scripts/train-default.sh: 8 × 1024, bf16, 2 threads, 3 MTP layers) from scratch, STEPS steps each, ROUNDS rounds,
# and prints each run's median tokens/s and MFU over steps 3..STEPS (metrics.jsonl, --log-every 1).
#   scripts/mfu-ab.sh OLD_BIN_DIR NEW_BIN_DIR [ROUNDS=3] [STEPS=8]      (run it under /tmp/exclusive.sh)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
old="$1" new="$2" rounds="${3:-3}" steps="${4:-8}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
run() {   # run LABEL BIN
  local out="$work/$1-$RANDOM"
  dotnet "$2/mimo.dll" train --data "$root/.cache/corpus/packed" --out "$out" --config "$root/data/default-model-config.json" \
    --mtp-layers 3 --seed 1 --steps 6200 --warmup 200 --decay-fraction 0.15 --batch-size 8 --context 1024 --lr 2e-3 \
    --min-lr-fraction 0.1 --weight-decay 0.1 --grad-clip 1.0 --mtp-weight 0.3 --balance-gamma 0.01 --bf16 --threads 2 \
    --eval-every 200 --eval-windows 48 --save-every 1000 --log-every 1 --max-steps-this-run "$steps" > "$out.log" 2>&1
  python3 - "$1" "$out/training/metrics.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[2])][2:]
tps = statistics.median(r["tokens_per_second"] for r in rows)
mfu = statistics.median(r["mfu"] for r in rows)
print(f"{sys.argv[1]}: median of {len(rows)} steps {tps:,.0f} tokens/s, MFU {mfu:.1%}; losses {[round(r['loss'], 4) for r in rows]}")
PY
}
for r in $(seq "$rounds"); do run old "$old"; run new "$new"; done
