#!/usr/bin/env bash
# Headless-Chromium test of `kafka-eos explore` (see explorer_browser.py).
# Installs Debian's chromium and chromium-driver if missing (idempotent), builds the
# binary, runs the test; the screenshot goes to $CARGO_TARGET_DIR/browser/ (default
# target/browser/), outside the tracked files.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$root"

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver
fi
command -v python3 >/dev/null 2>&1 || { echo "run.sh: python3 is needed" >&2; exit 1; }

target="${CARGO_TARGET_DIR:-$root/target}"
cargo build -q -p kafka-eos-model --bin kafka-eos
exec timeout 120 python3 models/tests/browser/explorer_browser.py \
  --bin "$target/debug/kafka-eos" --out "$target/browser"
