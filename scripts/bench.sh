#!/usr/bin/env bash
# The side-by-side benchmark of BENCHMARKS.md, in one command:
#
#   scripts/bench.sh            # the full run (estimated 15-20 minutes on 2 cores)
#   scripts/bench.sh --quick    # shorter runs, 100,000 instead of 1,000,000 seeded referrals
#   scripts/bench.sh --no-write # print the table only, leave BENCHMARKS.md alone
#
# Builds wijkbrug and the load generator in release mode and measures, on this machine:
#   1. wijkbrug on SQLite (durable commits), the full path with the status loop;
#   2. the same on PostgreSQL (a database made for the run and dropped after;
#      WIJKBRUG_BENCH_PG, default postgres://postgres@127.0.0.1:5432);
#   3. Node-RED 4 (installed from npm into target/bench-tools/) running
#      scripts/bench/node-red-flow.json: parse the same iWmo WMO315, map to JSON, forward;
#   4. nginx (the Debian package, installed if missing; its own configuration in a temporary
#      folder, not the system service) as a plain proxy_pass of the same requests;
# the intake alone (202 after the durable commit), 1,000 referrals a second offered (open
# loop), and the full path again at 1,000,000 referrals in the store, with the dashboard's
# queries timed at both sizes; and, first, how long the disk takes to sync an append. Every run's JSON summary is kept in target/bench-run/<time>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

QUICK=0
WRITE=1
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --no-write) WRITE=0 ;;
    *) echo "usage: scripts/bench.sh [--quick] [--no-write]" >&2; exit 2 ;;
  esac
done

DURATION=20
SMALL=10000
LARGE=1000000
CONNECTIONS=32
if [ "$QUICK" = 1 ]; then
  DURATION=8
  LARGE=100000
fi
RATE=1000
PG_BASE=${WIJKBRUG_BENCH_PG:-postgres://postgres@127.0.0.1:5432}

OUT="$ROOT/target/bench-run/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
TOOLS="$ROOT/target/bench-tools"
mkdir -p "$TOOLS"

say() { printf '\n== %s (load %s)\n' "$*" "$(cut -d' ' -f1-3 /proc/loadavg)"; }

PIDS=()
PG_DB=""
PG_INTAKE_DB=""
cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  for db in $PG_DB $PG_INTAKE_DB; do
    psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$OUT/work-sqlite/data" "$OUT/work-sqlite-intake/data" "$OUT/nginx"
}
trap cleanup EXIT

say "building (release)"
# One command for both: the library is built once, with the features both need.
cargo build --release -p wijkbrug -p wijkbrug-loadgen --bins
GW="$ROOT/target/release/wijkbrug"
LG="$ROOT/target/release/wijkbrug-loadgen"

say "tools"
if [ ! -x "$TOOLS/node-red/node_modules/.bin/node-red" ]; then
  mkdir -p "$TOOLS/node-red"
  (cd "$TOOLS/node-red" && npm install --no-audit --no-fund --loglevel=error node-red@4)
fi
if ! command -v nginx >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q nginx-light >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q nginx-light >/dev/null; }
fi
NGINX=$(command -v nginx)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

"$LG" sample --mix iwmo > "$OUT/wmo315.xml"

say "disk"
# How long the disk takes to make an append durable, on the idle machine before the runs:
# the least a durable commit (and so a 202) waits.
"$LG" disk --label disk --dir "$OUT" --count 1000 --json "$OUT/disk.json"

gateway() { # name, store args..., loadgen args...
  local name=$1; shift
  say "$name"
  "$LG" gateway --bin "$GW" --label "$name" --json "$OUT/$name.json" "$@"
}

for STORE in sqlite postgres; do
  WORK="$OUT/work-$STORE"
  STORE_ARGS=(--work "$WORK")
  # The intake-alone run on a store of its own: its referrals are never delivered (every
  # partner a mailbox partner, nobody pulls), and a run after it on the same store would
  # deliver them all besides its own.
  INTAKE_ARGS=(--work "$OUT/work-$STORE-intake")
  if [ "$STORE" = postgres ]; then
    PG_DB="wijkbrug_bench_$$"
    PG_INTAKE_DB="wijkbrug_bench_intake_$$"
    psql "$PG_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
    psql "$PG_BASE/postgres" -qc "CREATE DATABASE $PG_INTAKE_DB" >/dev/null
    STORE_ARGS+=(--store "$PG_BASE/$PG_DB")
    INTAKE_ARGS+=(--store "$PG_BASE/$PG_INTAKE_DB")
  fi
  gateway "full-$STORE" "${STORE_ARGS[@]}" --mix iwmo --connections "$CONNECTIONS" \
    --duration "$DURATION" --seed-to "$SMALL" --dashboard-samples 200
  gateway "intake-$STORE" "${INTAKE_ARGS[@]}" --mix iwmo --connections "$CONNECTIONS" \
    --duration "$DURATION" --seed-to "$SMALL" --intake-only
  gateway "open-$STORE" "${STORE_ARGS[@]}" --mix demo --rate "$RATE" --duration "$DURATION"
  gateway "full-large-$STORE" "${STORE_ARGS[@]}" --mix iwmo --connections "$CONNECTIONS" \
    --duration "$DURATION" --seed-to "$LARGE" --dashboard-samples 200
  if [ "$STORE" = postgres ]; then
    psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
    psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_INTAKE_DB WITH (FORCE)" >/dev/null
    PG_DB=""
    PG_INTAKE_DB=""
  fi
  rm -rf "$WORK/data" "$OUT/work-$STORE-intake/data"
done

say "node-red"
NR_PORT=$(free_port)
SINK_PORT=$(free_port)
mkdir -p "$OUT/node-red"
cp scripts/bench/node-red-flow.json "$OUT/node-red/flows.json"
SINK_URL="http://127.0.0.1:$SINK_PORT/inbox" "$TOOLS/node-red/node_modules/.bin/node-red" \
  --port "$NR_PORT" --userDir "$OUT/node-red" "$OUT/node-red/flows.json" > "$OUT/node-red/node-red.log" 2>&1 &
NR_PID=$!
PIDS+=("$NR_PID")
wait_port "$NR_PORT"
sleep 1
# node-red's launcher execs node: the pid is the node process.
"$LG" post --label node-red --url "http://127.0.0.1:$NR_PORT/wmo315" --body "$OUT/wmo315.xml" \
  --connections "$CONNECTIONS" --duration "$DURATION" --sink "127.0.0.1:$SINK_PORT" \
  --pid "$NR_PID" --json "$OUT/node-red.json"
kill "$NR_PID" 2>/dev/null || true
wait "$NR_PID" 2>/dev/null || true

say "nginx"
NG_PORT=$(free_port)
SINK_PORT=$(free_port)
NG="$OUT/nginx"
mkdir -p "$NG"
cat > "$NG/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $NG/body;
  proxy_temp_path $NG/proxy;
  fastcgi_temp_path $NG/fastcgi;
  uwsgi_temp_path $NG/uwsgi;
  scgi_temp_path $NG/scgi;
  upstream partner { server 127.0.0.1:$SINK_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NG_PORT;
    location / {
      proxy_pass http://partner/inbox;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
"$NGINX" -p "$NG" -c "$NG/nginx.conf" &
NG_PID=$!
PIDS+=("$NG_PID")
wait_port "$NG_PORT"
NG_ARGS=(--pid "$NG_PID")
for w in $(pgrep -P "$NG_PID" || true); do NG_ARGS+=(--pid "$w"); done
"$LG" post --label nginx --url "http://127.0.0.1:$NG_PORT/wmo315" --body "$OUT/wmo315.xml" \
  --connections "$CONNECTIONS" --duration "$DURATION" --sink "127.0.0.1:$SINK_PORT" \
  "${NG_ARGS[@]}" --json "$OUT/nginx.json"
kill "$NG_PID" 2>/dev/null || true
wait "$NG_PID" 2>/dev/null || true

say "table"
WRITE_TO=""
[ "$WRITE" = 1 ] && WRITE_TO="$ROOT/BENCHMARKS.md"
python3 scripts/bench/table.py "$OUT" "$QUICK" "$WRITE_TO"
echo "summaries: $OUT"
