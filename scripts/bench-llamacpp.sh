#!/usr/bin/env bash
# Decode and prefill speed against llama.cpp on the same GGUF files (README "Figures"), at 1 and 2 threads.
# Long contexts (8k, 32k) on the default model's GGUF, swa_full off: scripts/bench-llamacpp-context.sh.
# Random MiMo-shaped models are generated into DIR (default .cache/bench; never commit them) and converted once.
#   scripts/bench-llamacpp.sh [DIR]        run nothing else meanwhile: both engines are memory-bound
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.cache/bench}
mkdir -p "$dir" .cache
[ -f .cache/.gitignore ] || printf '*\n' > .cache/.gitignore   # the random models must never be committed
dotnet build MimoSharp.slnx -c Release -v q -nologo > /dev/null
mimo=src/MimoSharp.Cli/bin/Release/net10.0/mimo
for size in 50m 400m 2b; do
    [ -f "$dir/$size/config.json" ] || dotnet run --no-build --project benchmarks/RandomModel -c Release -- "$dir/$size" "$size"
    [ -f "$dir/$size.q8_0.gguf" ] || "$mimo" convert --model "$dir/$size" --to gguf --quant q8_0 --out "$dir/$size.q8_0.gguf"
done
for size in 50m 400m; do
    [ -f "$dir/$size.q4_k.gguf" ] || "$mimo" convert --model "$dir/$size" --to gguf --quant q4_k --out "$dir/$size.q4_k.gguf"
done

compare() { # file threads gen repeat
    echo "== $(basename "$1"), $2 thread(s)"
    dotnet run --no-build --project benchmarks/LlamaCppCompare -c Release -- bench --model "$1" --prompt 64 --gen "$3" --repeat "$4" --threads "$2" 2>&1 \
        | grep -E "median|identical"
    # Bytes read per token, the bandwidth this process measured, and the limit they give (plain decoding).
    "$mimo" bench --model "$1" --prompt 16 --gen 32 --repeat 1 --threads "$2" --json 2>/dev/null \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print("bytes/token %.1f MB, limit %.0f tok/s" % (d["bytes_per_token"] / 1e6, d["bandwidth_limit_tokens_per_s"]))'
}
for threads in 1 2; do
    compare "$dir/50m.q8_0.gguf" $threads 64 5
    compare "$dir/400m.q8_0.gguf" $threads 64 5
    compare "$dir/2b.q8_0.gguf" $threads 32 3
    compare "$dir/50m.q4_k.gguf" $threads 64 5
    compare "$dir/400m.q4_k.gguf" $threads 64 5
done
