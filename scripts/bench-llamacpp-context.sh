#!/usr/bin/env bash
# The same GGUF in MimoSharp and in llama.cpp (LLamaSharp's CPU backend) at long contexts, as a Markdown table
# (docs/long-context.md, "Against llama.cpp"): prefill tok/s of the whole prompt, decode tok/s of 64 tokens after it,
# the KV cache's bytes and each process's peak RSS.
#   scripts/bench-llamacpp-context.sh [CONTEXTS=8192,32768] [GGUF] [THREADS=2]
# Without GGUF, the default model is used: a config copy with max_position_embeddings 262144 (.cache/default-256k)
# converted once to .cache/default-256k.q8_0.gguf. Extra `mimo bench` arguments go in MIMO_BENCH_ARGS
# (e.g. "--kv-cache f16"), llama.cpp's flash-attention choice in LLAMA_FLASH_ATTN (auto, on, off; default auto).
# Run nothing else meanwhile: both engines are memory- and core-bound.
#
# First, at a 64-token prompt, both engines decode 64 greedy tokens in one process (LlamaCppCompare bench) and the
# length of their common prefix is printed: the check that both run the same model. Then, per context, one process
# per engine (so each peak RSS is its own), the order alternating from one context to the next:
#   ours:      mimo bench --model GGUF --prompt N --gen 64 --repeat 1 --plain --json (f32 KV cache by default)
#   llama.cpp: LlamaCppCompare context --model GGUF --prompt N --gen 64: swa_full off, 512-token batches, its
#              defaults otherwise (flash attention auto, F16 KV cache); the same random prompt (same seed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
contexts="${1:-8192,32768}"
gguf="${2:-.cache/default-256k.q8_0.gguf}"
threads="${3:-2}"
gen=64
log=.cache/bench-llamacpp-context.log   # both engines' stderr, for when a run fails
mkdir -p .cache
: > "$log"
[ -f .cache/.gitignore ] || printf '*\n' > .cache/.gitignore   # model copies must never be committed
dotnet build src/MimoSharp.Cli -c Release -v q -nologo > /dev/null
dotnet build benchmarks/LlamaCppCompare -c Release -v q -nologo > /dev/null
mimo="$root/src/MimoSharp.Cli/bin/Release/net10.0/mimo.dll"
compare="$root/benchmarks/LlamaCppCompare/bin/Release/net10.0/LlamaCppCompare.dll"
if [ ! -f "$gguf" ]; then
  [ "$gguf" = .cache/default-256k.q8_0.gguf ] || { echo "no such file: $gguf" >&2; exit 1; }
  mkdir -p .cache/default-256k
  cp models/default/* .cache/default-256k/
  python3 -c "import json;p='.cache/default-256k/config.json';c=json.load(open(p));c['max_position_embeddings']=262144;json.dump(c,open(p,'w'),indent=2)"
  dotnet "$mimo" convert --model .cache/default-256k --to gguf --quant q8_0 --out "$gguf"
fi

echo "same model: $(dotnet "$compare" bench --model "$gguf" --prompt 64 --gen 64 --repeat 1 --threads "$threads" 2>&1 | grep identical)"

ours() { dotnet "$mimo" bench --model "$gguf" --prompt "$1" --gen $gen --repeat 1 --plain --json --threads "$threads" ${MIMO_BENCH_ARGS:-} 2>>"$log"; }
theirs() { dotnet "$compare" context --model "$gguf" --prompt "$1" --gen $gen --threads "$threads" --flash-attn "${LLAMA_FLASH_ATTN:-auto}" 2>>"$log"; }

echo
echo "| context | ours prefill tok/s | llama.cpp prefill tok/s | ours decode tok/s | llama.cpp decode tok/s | ours memory-bound limit tok/s | KV MiB ours / llama.cpp | peak RSS MiB ours / llama.cpp |"
echo "|---|---|---|---|---|---|---|---|"
i=0
for n in ${contexts//,/ }; do
  if (( i % 2 == 0 )); then a="$(ours "$n")"; b="$(theirs "$n")"; else b="$(theirs "$n")"; a="$(ours "$n")"; fi
  i=$((i + 1))
  python3 - "$a" "$b" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
mib = lambda x: x / 2**20
# Ours: the cache at the middle of the decoded span (what a decode step reads), in its dtype. llama.cpp: the KV
# buffers it allocated for the whole context (full-attention layer at n_ctx, sliding-window layers at window + batch).
print(f"| {a['prompt_tokens']:,} | {a['prefill_tokens_per_s']:,.0f} | {b['prefill_tokens_per_s']:,.0f} | "
      f"{a['decode_tokens_per_s']:,.0f} | {b['decode_tokens_per_s']:,.0f} | {a['bandwidth_limit_tokens_per_s']:,.0f} "
      f"({a['fraction_of_limit']:.0%} reached) | {mib(a['kv_bytes_per_token']):,.1f} / {mib(b['kv_buffer_bytes']):,.1f} | "
      f"{mib(a['peak_rss_bytes']):,.0f} / {mib(b['peak_rss_bytes']):,.0f} |", flush=True)
print(f"  llama.cpp: {b['flash_attention'] or 'flash attention: not logged'}; context {b['context_size']}, batch {b['batch_size']}", file=sys.stderr)
PY
done
