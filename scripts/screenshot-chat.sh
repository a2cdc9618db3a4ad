#!/usr/bin/env bash
# Saves docs/images/chat-page.png: the chat page of `mimo serve` in headless chromium (Debian's
# /usr/bin/chromium, or $MIMO_CHROMIUM) holding a short conversation with the default model. It runs the
# browser test that starts a real server on a free loopback port with models/default and types two messages.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/docs/images/chat-page.png}"
MIMO_CHAT_SCREENSHOT="$out" dotnet test "$root/tests/MimoSharp.Server.Tests" -c Release \
  --filter "FullyQualifiedName~ChatPageBrowserTests.ScreenshotOfAConversation"
echo "wrote $out"
