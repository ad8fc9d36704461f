#!/usr/bin/env bash
# librdkafka's own integration tests, unmodified, against kafka-eos-broker.
#
# Gets librdkafka 2.0.2's source from Debian's archive (bookworm; a deb-src entry is added when the
# machine has none), builds the library and its test runner (tests/test-runner) under
# $TARGET/librdkafka (never committed), then runs each test below against a fresh broker (its own
# temporary --data-dir) with the test.conf written here. Prints one line per test with its time and
# a closing "N passed, N failed" line; exits non-zero if any test failed. Callable from anywhere:
#   bash adapters/broker/e2e/librdkafka/run.sh [TEST ...]     (default: the four below)
# Environment: KAFKA_EOS_RDK_DIR (build folder), KAFKA_EOS_RDK_KEEP=1 (keep each test's folder:
# test.conf, broker.log, test.log), KAFKA_EOS_RDK_TIMEOUT (seconds per test, default 300).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
RDK_VERSION=2.0.2
RDK_DEB_VERSION=2.0.2-1
RDK_PARENT="${KAFKA_EOS_RDK_DIR:-$TARGET/librdkafka}"
RDK="$RDK_PARENT/librdkafka-$RDK_VERSION"
PER_TEST_TIMEOUT="${KAFKA_EOS_RDK_TIMEOUT:-300}"
REPLICATION_DELAY_MS="${KAFKA_EOS_RDK_REPLICATION_DELAY_MS:-25}"
# The Kafka version whose features the broker serves (Produce v11, InitProducerId v4 with KIP-360,
# TxnOffsetCommit v3): the tests compare it with 2.4/2.5 only (0103's KIP-360 sub-test).
export TEST_KAFKA_VERSION="${TEST_KAFKA_VERSION:-3.8.0}"

if [ "$#" -gt 0 ]; then
  TESTS_LIST=("$@")
else
  TESTS_LIST=(0090_idempotence 0094_idempotence_msg_timeout 0103_transactions 0129_fetch_aborted_msgs)
fi

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

log() { echo "[librdkafka-tests] $*"; }

# ---- 1. The source, from Debian's archive. -----------------------------------------------------
fetch_source() {
  local apt_updated=0
  if ! command -v dpkg-source >/dev/null 2>&1 || ! command -v g++ >/dev/null 2>&1 \
    || ! command -v make >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
    $SUDO apt-get update -q
    apt_updated=1
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q dpkg-dev g++ make python3
  fi
  if ! grep -rqsE '^(deb-src |Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding a deb-src entry for bookworm"
    $SUDO tee /etc/apt/sources.list.d/kafka-eos-deb-src.sources >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt_updated=0
  fi
  if [ "$apt_updated" = 0 ]; then $SUDO apt-get update -q; fi
  mkdir -p "$RDK_PARENT"
  (cd "$RDK_PARENT" && apt-get source -q "librdkafka=$RDK_DEB_VERSION")
}

if [ ! -f "$RDK/tests/0103-transactions.c" ]; then
  fetch_source
fi

# ---- 2. The library and the test runner (no SSL/SASL/zstd/curl: none of the tests needs them;
# -O0 compiles fastest). ----------------------------------------------------------------------------
JOBS="$(nproc)"
if [ ! -x "$RDK/tests/test-runner" ]; then
  log "building librdkafka $RDK_VERSION and tests/test-runner ($JOBS jobs)"
  start=$(date +%s)
  (
    cd "$RDK"
    ./configure --disable-ssl --disable-gssapi --disable-zstd --disable-curl --disable-lz4-ext \
      --disable-optimization --disable-syslog >"$RDK_PARENT/configure.log" 2>&1 \
      || { tail -n 40 "$RDK_PARENT/configure.log"; exit 1; }
    make -j"$JOBS" libs >"$RDK_PARENT/make-libs.log" 2>&1 \
      || { tail -n 40 "$RDK_PARENT/make-libs.log"; exit 1; }
    make -j"$JOBS" -C tests test-runner >"$RDK_PARENT/make-tests.log" 2>&1 \
      || { tail -n 40 "$RDK_PARENT/make-tests.log"; exit 1; }
  )
  log "built in $(($(date +%s) - start)) s"
fi

# ---- 3. The broker. --------------------------------------------------------------------------------
cargo build --quiet -p kafka-eos-broker
BROKER="$TARGET/debug/kafka-eos-broker"

# ---- 4. Each test against a fresh broker. ------------------------------------------------------
BROKER_PID=""
cleanup() {
  if [ -n "$BROKER_PID" ]; then kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

run_one() {
  local name="$1" dir port i rc start secs
  dir="$(mktemp -d "${TMPDIR:-/tmp}/kafka-eos-rdk-$name.XXXXXX")"
  # The tests are written for a 3-broker cluster (README.md): 0103 creates its topics with 3
  # replicas (--max-replication-factor 3: accepted, one replica kept); its "init_transactions():
  # timeout on first" expects init_transactions(p, 1) to time out, which one node answering
  # InitProducerId at once does not always do (--replication-delay-ms).
  "$BROKER" --listen 127.0.0.1:0 --port-file "$dir/port" --data-dir "$dir/data" \
    --max-replication-factor 3 --replication-delay-ms "$REPLICATION_DELAY_MS" \
    --log-level debug 2>"$dir/broker.log" >/dev/null &
  BROKER_PID=$!
  for i in $(seq 1 100); do
    [ -s "$dir/port" ] && break
    sleep 0.1
  done
  if [ ! -s "$dir/port" ]; then
    log "$name: the broker did not start"; tail -n 20 "$dir/broker.log"; return 1
  fi
  port="$(cat "$dir/port")"
  # test.conf (tests/README.md): any librdkafka property, plus the test.* properties.
  cat >"$dir/test.conf" <<EOF
bootstrap.servers=127.0.0.1:$port
EOF
  start=$(date +%s)
  set +e
  (
    cd "$RDK/tests"
    export LD_LIBRARY_PATH="$RDK/src:$RDK/src-cpp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    RDKAFKA_TEST_CONF="$dir/test.conf" TESTS="$name" \
      timeout "$PER_TEST_TIMEOUT" ./test-runner -p1
  ) >"$dir/test.log" 2>&1
  rc=$?
  set -e
  # The runner exits 0 for a skipped test too: require the summary row `| NAME | PASSED |`.
  if [ "$rc" = 0 ] && ! sed 's/\x1b\[[0-9;]*m//g' "$dir/test.log" \
    | grep -qE "^\| $name +\| +PASSED \|"; then
    rc="not-run"
  fi
  secs=$(($(date +%s) - start))
  cleanup
  BROKER_PID=""
  if [ "$rc" = 0 ]; then
    log "PASS $name (${secs} s)"
    [ "${KAFKA_EOS_RDK_KEEP:-0}" = 1 ] || rm -rf "$dir"
    return 0
  fi
  log "FAIL $name (${secs} s, exit $rc); folder $dir"
  echo "---- test-runner output (last 80 lines) ----"
  sed 's/\x1b\[[0-9;]*m//g' "$dir/test.log" | tail -n 80
  echo "---- broker log (last 40 lines) ----"
  tail -n 40 "$dir/broker.log"
  return 1
}

passed=0
failed=0
for t in "${TESTS_LIST[@]}"; do
  if run_one "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "librdkafka: $passed passed, $failed failed"
[ "$failed" = 0 ]
