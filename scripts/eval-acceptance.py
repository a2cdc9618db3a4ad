#!/usr/bin/env python3
# Mean acceptance length of MTP self-speculative decoding on held-out prompts: prompts are cut at fixed offsets
# from texts the model never trained on (scripts/corpus.sh's source-disjoint eval texts by default), each is
# continued greedily with all MTP depths drafting (`mimo generate --speculative K --json`), and the accepted-draft
# histograms are summed. Acceptance length = tokens emitted per verify step (1 + accepted drafts), the paper's
# figure; greedy output equals plain decoding, so this measures speed only.
#   usage: eval-acceptance.py MODEL_DIR [--prompts-per-file 10] [--max-tokens 64] [--k 3] [--json] [TEXT_FILE...]
# Written for MimoSharp; stdlib only.
import json
import os
import subprocess
import sys

argv = sys.argv[1:]


def option(name, fallback):
    if name in argv:
        i = argv.index(name)
        value = argv[i + 1]
        del argv[i:i + 2]
        return value
    return fallback


per_file = int(option("--prompts-per-file", "10"))
max_tokens = int(option("--max-tokens", "64"))
k = int(option("--k", "3"))
as_json = "--json" in argv
argv = [a for a in argv if a != "--json"]
if not argv:
    sys.exit("usage: eval-acceptance.py MODEL_DIR [--prompts-per-file N] [--max-tokens N] [--k K] [--json] [TEXT_FILE...]")
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
model, files = argv[0], argv[1:] or [os.path.join(root, ".cache/corpus/eval", f) for f in ("prose-cfi.txt", "python-docutils.txt")]
mimo = os.environ.get("MIMO_DLL", os.path.join(root, "src/MimoSharp.Cli/bin/Release/net10.0/mimo.dll"))

results = {}
for path in files:
    text = open(path, encoding="utf-8").read()
    histogram = [0] * (k + 1)
    for p in range(per_file):
        # A prompt of ~300 characters starting at a line break, spread evenly over the text.
        start = text.find("\n", (p + 1) * len(text) // (per_file + 1)) + 1
        prompt = text[start:start + 300]
        prompt = prompt[:prompt.rfind(" ")] if " " in prompt else prompt
        run = subprocess.run(["dotnet", mimo, "generate", "--model", model, "--speculative", str(k), "--max-tokens",
                              str(max_tokens), "--json", prompt], capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"eval-acceptance: mimo generate failed: {run.stderr.strip()}")
        spec = json.loads(run.stdout)["speculative"]
        histogram = [a + b for a, b in zip(histogram, spec["accepted_histogram"])]
    steps = sum(histogram)
    results[os.path.basename(path)] = {
        "prompts": per_file,
        "verify_steps": steps,
        "acceptance_length": sum((i + 1) * n for i, n in enumerate(histogram)) / steps,
        # The share of verify steps whose depth-d draft stood (drafts stand in order, so: at least d accepted).
        "accepted_share_per_depth": [sum(histogram[d:]) / steps for d in range(1, k + 1)],
        "accepted_histogram": histogram,
    }

if as_json:
    print(json.dumps({"model": model, "k": k, "max_tokens": max_tokens, "texts": results}, indent=1))
else:
    for name, r in results.items():
        shares = " ".join(f"{x:.2f}" for x in r["accepted_share_per_depth"])
        print(f"{name:<24} acceptance length {r['acceptance_length']:.2f} over {r['verify_steps']} steps "
              f"({r['prompts']} prompts); share of steps whose depth-1..{k} draft stood: {shares}")
