#!/usr/bin/env bash
# The paper's speculative-decoding table on this machine: total decode tok/s for batch × prompt × draft depth K
# (0 = plain, 1..3 fixed, adaptive), the speed-up over K=0, the acceptance length, and the roofline's prediction at
# that acceptance (Inference/DecodeRoofline: bytes and FLOPs per step against the measured bandwidth and FMA peak).
# One `mimo bench --batch B --prompt P` process per cell pair; the depths alternate inside it (the machine is noisy).
#   scripts/bench-serving.sh MODEL_DIR [BATCHES=1,4,8] [PROMPTS=512,4096] [TEXT_FILE=docs/training.md] [extra mimo bench args]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:?usage: bench-serving.sh MODEL_DIR [BATCHES] [PROMPTS] [TEXT_FILE] [mimo bench arguments]}"
batches="${2:-1,4,8}" prompts="${3:-512,4096}" text="${4:-$root/docs/training.md}"
shift $(( $# >= 4 ? 4 : $# ))
dll="${MIMO_DLL:-$root/src/MimoSharp.Cli/bin/Release/net10.0/mimo.dll}"
echo "| batch | prompt | K | decode tok/s (total) | speed-up over K=0 | acceptance length | roofline speed-up | measured / roofline |"
echo "|---|---|---|---|---|---|---|---|"
for p in ${prompts//,/ }; do
  for b in ${batches//,/ }; do
    if ! json="$(dotnet "$dll" bench --model "$model" --batch "$b" --prompt "$p" --text-file "$text" --gen 64 --repeat 3 --json "$@" 2>/tmp/bench-serving.err)"; then
      echo "bench-serving: batch $b, prompt $p failed: $(tail -1 /tmp/bench-serving.err)" >&2   # e.g. beyond max_position_embeddings
      continue
    fi
    python3 - "$json" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
plain = d["decode_tokens_per_s"]
print(f"| {d['batch']} | {d['prompt_tokens']:,} | 0 | {plain:,.0f} | 1.00 | 1.00 | 1.00 (roofline {d['roofline_tokens_per_s']:,.0f} tok/s) | {plain / d['roofline_tokens_per_s']:.0%} of its tok/s |")
for k in d["speculative_fixed"]:
    print(f"| {d['batch']} | {d['prompt_tokens']:,} | {k['k']} | {k['decode_tokens_per_s']:,.0f} | {k['speedup']:.2f} | {k['acceptance_length']:.2f} | "
          f"{k['roofline_speedup']:.2f} | {k['speedup'] / k['roofline_speedup']:.0%} |")
if d.get("speculative_decode_tokens_per_s"):
    a = d["speculative_decode_tokens_per_s"]
    print(f"| {d['batch']} | {d['prompt_tokens']:,} | adaptive | {a:,.0f} | {a / plain:.2f} | {d['acceptance_length']:.2f} | | |")
PY
  done
done
