#!/usr/bin/env bash
# End-to-end suite of kafka-eos-broker with real clients (confluent-kafka / librdkafka and
# kafka-python, pinned in requirements.txt), including the fault-proxy runs with and without the
# core's duplicate detection. Idempotent; callable from the repository root:
#   bash adapters/broker/e2e/run.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="${KAFKA_EOS_E2E_VENV:-$TARGET/e2e-venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r adapters/broker/e2e/requirements.txt

cargo build --quiet -p kafka-eos-broker
export KAFKA_EOS_BROKER_BIN="$TARGET/debug/kafka-eos-broker"

cd adapters/broker/e2e
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -q "$@"
