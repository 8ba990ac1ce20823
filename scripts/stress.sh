#!/usr/bin/env bash
# Runs the concurrency tests that guard against lost cleanup many times in a row: a race that
# shows once in 30 runs passes a single `cargo test` most of the time. Called by .ci/run.
#   scripts/stress.sh [RUNS]   (default 200; each run takes a fraction of a second)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-200}"

binary=$(cargo test -p examen-rt --test it --no-run --locked --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
if [[ -z "$binary" ]]; then
    echo "stress: could not find the examen-rt test binary" >&2
    exit 1
fi

# The filters: shielded cleanup and abandoned blocking work that `run` must wait for.
filters=(shield::)
for ((i = 1; i <= runs; i++)); do
    if ! output=$("$binary" --quiet "${filters[@]}" 2>&1); then
        echo "$output" >&2
        echo "stress: examen-rt ${filters[*]} failed on run $i of $runs" >&2
        exit 1
    fi
done
echo "stress: examen-rt ${filters[*]}: $runs runs, all passed"
