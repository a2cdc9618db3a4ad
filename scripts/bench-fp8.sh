#!/usr/bin/env bash
# FP8 as stored against the same weights quantised to Q8_0 at load, on a release-shaped checkpoint at real dimensions
# (hidden 4096, 64x192/128 heads, FP8 128x128 blocks, fused K|V in full-attention layers, BF16 o_proj/lm_head).
# The two runs alternate (the machine is noisy); each prints the bandwidth limit it measured beside its figure.
#   scripts/bench-fp8.sh [DIR] [ROUNDS]      run nothing else meanwhile
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.cache/release-4l}
rounds=${2:-2}
mkdir -p .cache
[ -f .cache/.gitignore ] || printf '*\n' > .cache/.gitignore   # the random checkpoint must never be committed
dotnet build MimoSharp.slnx -c Release -v q -nologo > /dev/null
mimo=src/MimoSharp.Cli/bin/Release/net10.0/mimo
[ -f "$dir/config.json" ] || dotnet run --no-build --project benchmarks/RandomModel -c Release -- "$dir" release --layers 4 --experts 16 --vocab 16384 --mtp 1
"$mimo" inspect --model "$dir" | grep -E "^(shape|attention|FFN|dtypes|FP8)"
for threads in 2 1; do
    for round in $(seq "$rounds"); do
        for quant in none q8_0; do
            "$mimo" bench --model "$dir" --quant "$quant" --prompt 64 --gen 32 --repeat 2 --threads "$threads" --json 2>/dev/null \
                | python3 -c 'import json,sys
d=json.load(sys.stdin)
print("%-5s %d thr  round %s  prefill %6.1f tok/s  decode %5.1f tok/s  = %3.0f %% of %5.1f tok/s (%.1f GB/s over %.0f MB/token)  peak RSS %.0f MiB" % (
    sys.argv[1], int(sys.argv[2]), sys.argv[3], d["prefill_tokens_per_s"], d["decode_tokens_per_s"],
    100 * d["decode_tokens_per_s"] / d["bandwidth_limit_tokens_per_s"], d["bandwidth_limit_tokens_per_s"],
    d["bandwidth_bytes_per_s"] / 1e9, d["bytes_per_token"] / 1e6, d["peak_rss_bytes"] / 2**20))' "$quant" "$threads" "$round"
        done
    done
done
