#!/usr/bin/env bash
# Run the benchmark suite the way the figures in README.md were taken:
# ROUNDS rounds (default 3) of wal_append, group_commit and acceptor, each
# saved as a criterion baseline r1..rN, then recovery once, then the
# interleaved single-writer latency run, then the ratio table over the rounds.
#
#   benches/run.sh                 # ~20 minutes on a 2-core VM
#   ROUNDS=1 benches/run.sh        # one round
#   PAXOS_BENCH_BIG=1 benches/run.sh   # adds the 1 GiB recovery cases
#   PAXOS_BENCH_DIR=/mnt/disk/bench benches/run.sh   # files elsewhere (not tmpfs)
#
# On a shared machine, before each round it waits (up to WAIT_MAX seconds,
# default 600) for the 1-minute load average to drop below MAX_LOAD
# (default 1.5), and prints the load it started at.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
MAX_LOAD=${MAX_LOAD:-1.5}
WAIT_MAX=${WAIT_MAX:-600}

wait_quiet() {
    local waited=0
    while awk -v max="$MAX_LOAD" '{ exit !($1 >= max) }' /proc/loadavg && [ "$waited" -lt "$WAIT_MAX" ]; do
        sleep 10
        waited=$((waited + 10))
    done
    echo "== $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg) (waited ${waited}s)"
}

cargo bench -p paxos-store-benches --no-run
for r in $(seq 1 "$ROUNDS"); do
    wait_quiet
    cargo bench -p paxos-store-benches --bench wal_append --bench group_commit --bench acceptor -- --save-baseline "r$r"
done
wait_quiet
cargo bench -p paxos-store-benches --bench recovery -- --save-baseline r1
wait_quiet
cargo run --release -p paxos-store-benches --bin paired -- --rounds 10 --ops 300
cargo run --release -p paxos-store-benches --bin bench-report -- $(seq -f 'r%g' 1 "$ROUNDS")
