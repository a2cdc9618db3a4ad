#!/usr/bin/env bash
# Prefill and plain decode at several context lengths, one `mimo bench --plain` process per length (so each peak RSS
# is its own), as a Markdown table beside the memory-bound limit (weights + KV bytes per token over the measured
# bandwidth) and the issue's yardstick: decode's slowdown from the first length against the ideal slowdown
# bytes(first) / bytes(N).
#   scripts/bench-context.sh MODEL_DIR [CONTEXTS=512,4096,32768] [extra mimo bench arguments, e.g. --kv-cache f16]
# A model's max_position_embeddings must cover the longest context (a config copy with it raised will do).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:?usage: bench-context.sh MODEL_DIR [CONTEXTS] [mimo bench arguments]}"
contexts="${2:-512,4096,32768}"
shift $(( $# >= 2 ? 2 : 1 ))
dll="${MIMO_DLL:-$root/src/MimoSharp.Cli/bin/Release/net10.0/mimo.dll}"
echo "| context | prefill tok/s | decode tok/s | KV MB/token | limit tok/s | of limit | slowdown vs ideal | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
first=""
for n in ${contexts//,/ }; do
  json="$(dotnet "$dll" bench --model "$model" --prompt "$n" --gen 64 --repeat 1 --plain --json "$@" 2>/dev/null)"
  first="${first:-$json}"
  python3 - "$json" "$first" <<'PY'
import json, sys
d, f = json.loads(sys.argv[1]), json.loads(sys.argv[2])
total = lambda x: x["bytes_per_token"] + x["kv_bytes_per_token"]
# Measured slowdown (first decode / this decode) over the ideal one (bytes now / bytes first): 100% = memory speed.
ideal = total(d) / total(f)
measured = f["decode_tokens_per_s"] / d["decode_tokens_per_s"]
print(f"| {d['prompt_tokens']:,} | {d['prefill_tokens_per_s']:,.0f} | {d['decode_tokens_per_s']:,.0f} | {d['kv_bytes_per_token'] / 1e6:.2f} | "
      f"{d['bandwidth_limit_tokens_per_s']:,.0f} | {d['fraction_of_limit']:.0%} | {ideal / measured:.0%} | {d['peak_rss_bytes'] / 2**20:,.0f} |")
PY
done
