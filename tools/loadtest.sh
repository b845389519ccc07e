#!/usr/bin/env bash
# The README's load-test figures: `adabench serve` over a nightly-sized store and `adabench
# serve-engine` over the organism (models/organism/long), each for SECONDS under CLIENTS keep-alive
# clients, 16 slow clients, 4 clients sending bodies just under the limit, the abuse cases and a
# 400-connection flood, with the server's peak memory. Loopback only; exits non-zero when a server dies, answers an abuse request wrongly, holds a
# slow client past its timeout + 2 s, or fails to serve after the flood.
#   usage: tools/loadtest.sh [BUILD_DIR (default build)] [SECONDS (default 10)] [CLIENTS (default 32)]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
secs=${2:-10}
clients=${3:-32}
adabench=$build/harness/cli/adabench
loadtest=$build/tools/loadtest/adabench-loadtest
for b in "$adabench" "$loadtest"; do
  [ -x "$b" ] || { echo "error: $b is missing (hint: cmake --build $build --target adabench adabench-loadtest)" >&2; exit 2; }
done
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# Waits for "http://127.0.0.1:PORT" in the server's output (60 s at most) and prints PORT.
wait_port() {
  for _ in $(seq 600); do
    if grep -qo 'http://127\.0\.0\.1:[0-9]*' "$1"; then grep -o 'http://127\.0\.0\.1:[0-9]*' "$1" | head -1 | sed 's/.*://'; return; fi
    kill -0 "$pid" 2>/dev/null || { cat "$1" >&2; exit 1; }
    sleep 0.1
  done
  echo "error: the server did not start (see $1)" >&2; exit 1
}

echo "== machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
"$adabench" sweep --config configs/nightly.json --db "$tmp/store.db" > "$tmp/sweep.log" 2>&1 || { cat "$tmp/sweep.log"; exit 1; }

echo "== adabench serve --timeout 5 (8 KiB headers, 16 KiB bodies, 64 connections): $clients clients x $secs s"
"$adabench" serve --db "$tmp/store.db" --port 0 --timeout 5 > "$tmp/serve.out" 2>&1 &
pid=$!
port=$(wait_port "$tmp/serve.out")
"$loadtest" --url "http://127.0.0.1:$port" --get / --get /api/runs --get /runs/1 --get /api/runs/1/points \
  --get '/api/runs/1/samples?limit=20' --get /healthz --clients "$clients" --seconds "$secs" --slow 16 --abuse \
  --flood 400 --big-bodies 4 --big-body-path /healthz --probe /healthz --max-header-bytes 8192 --max-body-bytes 16384 --pid "$pid" --max-hold 7 --timeout 30
kill "$pid"; wait "$pid" || true; pid=""

echo "== adabench serve-engine --timeout 5 (models/organism/long, 16 KiB headers, 8 MiB bodies, 256 connections): $clients clients x $secs s"
"$adabench" serve-engine --model models/organism/long --port 0 --timeout 5 > "$tmp/engine.out" 2>&1 &
pid=$!
port=$(wait_port "$tmp/engine.out")
"$loadtest" --url "http://127.0.0.1:$port" \
  --post '/v1/completions={"prompt": "What is 12+30?", "max_tokens": 16, "temperature": 0}' \
  --post '/tokenize={"prompt": "What is 12+30?"}' --get /v1/models --get /health \
  --clients "$clients" --seconds "$secs" --slow 16 --abuse --flood 400 --big-bodies 4 --big-body-path /tokenize --probe /health \
  --max-header-bytes 16384 --max-body-bytes 8388608 --pid "$pid" --max-hold 7 --timeout 60
kill "$pid"; wait "$pid" || true; pid=""
