#!/bin/bash
# Interleaved load runs of one or more dnma binaries against the collector, with `wrk` on the
# same machine: for each round and binary, a fresh data directory, a 2 s warm-up, then one
# measured run; prints requests/s, p50/p99, the collector's CPU per request (from
# /proc/PID/stat), its peak RSS and the retried bodies it saw (must be 0).
# Usage: tools/wrk-ab.sh ROUNDS EVENTS CONNECTIONS SECONDS label=/path/to/dnma ...
# Example: tools/wrk-ab.sh 5 1 256 20 before=/tmp/dnma-before after=target/release/dnma
set -u
ROUNDS=$1; EVENTS=$2; CONNS=$3; SECS=$4; shift 4
cd "$(dirname "$0")/.."
DATA=$(mktemp -d)
for r in $(seq 1 $ROUNDS); do
  for spec in "$@"; do
    label=${spec%%=*}; bin=${spec#*=}
    rm -rf "$DATA"; mkdir -p "$DATA"
    $bin collector --listen 127.0.0.1:18080 --data-dir "$DATA" > "$DATA.log" 2>&1 &
    pid=$!
    for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18080/healthz && break; sleep 0.1; done
    EVENTS=$EVENTS wrk -t1 -c64 -d2s -s tools/wrk-event.lua http://127.0.0.1:18080 >/dev/null 2>&1
    t0=$(awk '{print $14+$15}' /proc/$pid/stat)
    out=$(EVENTS=$EVENTS wrk -t1 -c$CONNS -d${SECS}s --latency -s tools/wrk-event.lua http://127.0.0.1:18080 2>&1)
    t1=$(awk '{print $14+$15}' /proc/$pid/stat)
    rss=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
    rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
    reqs=$(echo "$out" | awk '/requests in/{print $1}')
    p50=$(echo "$out" | awk '$1=="50%"{print $2}')
    p99=$(echo "$out" | awk '$1=="99%"{print $2}')
    errs=$(echo "$out" | grep -E "Non-2xx|Socket errors" | tr '\n' ' ')
    dup=$(curl -s http://127.0.0.1:18080/metrics | awk '/^dnma_duplicate_bodies_total/{print $2}')
    us=$(awk -v a=$t0 -v b=$t1 -v n=$reqs 'BEGIN{printf "%.1f", (b-a)*10000/n}')
    echo "round=$r $label rps=$rps p50=$p50 p99=$p99 cpu_us/req=$us hwm_kb=$rss dup=$dup $errs"
    kill $pid; wait $pid 2>/dev/null
  done
done
rm -rf "$DATA" "$DATA.log"
