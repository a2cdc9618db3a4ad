#!/usr/bin/env python3
# Asks a model the held-out chat prompts of scripts/corpus/dialogues.py through `mimo serve` on loopback (the
# OpenAI chat endpoint, greedy) and reports, per kind of prompt, how often the reply ends with <|im_end|>
# (finish_reason "stop") within the token limit, and how often it is the reference answer. The prompts were held
# out of the chat-format stage, so this measures the turn format on questions the model was not trained on.
#   usage: chat-eval.py MODEL_DIR HELDOUT.jsonl [PER_KIND=20] [MAX_TOKENS=96] [--json] [--transcript FILE]
# Written for MimoSharp; stdlib only.
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

args = [a for a in sys.argv[1:] if not a.startswith("--")]
as_json = "--json" in sys.argv
transcript = sys.argv[sys.argv.index("--transcript") + 1] if "--transcript" in sys.argv else None
if transcript in args:
    args.remove(transcript)
model, heldout = args[0], args[1]
per_kind = int(args[2]) if len(args) > 2 else 20
max_tokens = int(args[3]) if len(args) > 3 else 96
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
mimo = os.environ.get("MIMO_DLL", os.path.join(root, "src/MimoSharp.Cli/bin/Release/net10.0/mimo.dll"))

prompts = {}
for line in open(heldout, encoding="utf-8"):
    item = json.loads(line)
    prompts.setdefault(item["kind"], [])
    if len(prompts[item["kind"]]) < per_kind:
        prompts[item["kind"]].append(item)

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
server = subprocess.Popen(["dotnet", mimo, "serve", "--model", model, "--port", str(port), "--no-chat-page"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
base = f"http://127.0.0.1:{port}"
try:
    for _ in range(600):
        try:
            urllib.request.urlopen(base + "/health", timeout=1).read()
            break
        except OSError:
            if server.poll() is not None:
                sys.exit(f"chat-eval: the server exited: {server.stderr.read()}")
            time.sleep(0.2)

    def ask(prompt):
        body = json.dumps({"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                           "temperature": 0}).encode()
        request = urllib.request.Request(base + "/v1/chat/completions", body, {"Content-Type": "application/json"})
        reply = json.load(urllib.request.urlopen(request, timeout=600))
        choice = reply["choices"][0]
        return choice["message"]["content"] or "", choice["finish_reason"], reply["usage"]["completion_tokens"]

    results, lines = {}, []
    for kind, items in prompts.items():
        stops = exact = tokens = 0
        for item in items:
            text, finish, used = ask(item["prompt"])
            stops += finish == "stop"
            exact += text.strip() == item["reference"].strip()
            tokens += used
            lines.append(f"### {kind}\nuser: {item['prompt']}\nassistant: {text}\n[{finish}, {used} tokens; "
                         f"reference: {item['reference']}]\n")
        results[kind] = {"prompts": len(items), "stop_rate": stops / len(items), "exact_rate": exact / len(items),
                         "mean_completion_tokens": tokens / len(items)}
finally:
    server.terminate()
    server.wait()

if transcript:
    open(transcript, "w", encoding="utf-8").write("\n".join(lines))
if as_json:
    print(json.dumps({"model": model, "max_tokens": max_tokens, "kinds": results}, indent=1))
else:
    print(f"{'kind':<12} {'prompts':>7} {'stops':>6} {'exact':>6} {'tokens':>7}")
    for kind, r in results.items():
        print(f"{kind:<12} {r['prompts']:>7} {r['stop_rate']:>6.0%} {r['exact_rate']:>6.0%} {r['mean_completion_tokens']:>7.1f}")
