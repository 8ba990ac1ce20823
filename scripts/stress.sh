#!/usr/bin/env bash
# Runs the concurrency tests that guard against lost cleanup many times in a row: a race that
# shows once in 30 runs passes a single `cargo test` most of the time. Called by .ci/run.
#   scripts/stress.sh [RUNS]   (default 200; each run takes a fraction of a second)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-200}"

# The test binary of `package`'s `it` suite.
test_binary() {
    cargo test -p "$1" --test it --no-run --locked --message-format=json 2>/dev/null |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1
}

# Runs the tests of `package`'s suite that match the filters `runs` times, stopping at the first
# failure.
stress() {
    local package=$1 binary output
    shift
    local filters=("$@")
    binary=$(test_binary "$package")
    if [[ -z "$binary" ]]; then
        echo "stress: could not find the $package test binary" >&2
        exit 1
    fi
    for ((i = 1; i <= runs; i++)); do
        if ! output=$("$binary" --quiet "${filters[@]}" 2>&1); then
            echo "$output" >&2
            echo "stress: $package ${filters[*]} failed on run $i of $runs" >&2
            exit 1
        fi
    done
    echo "stress: $package ${filters[*]}: $runs runs, all passed"
}

# Shielded cleanup and abandoned blocking work that `run` must wait for.
stress examen-rt shield::
# Parallel tool calls: staging, declared order, siblings cancelled by a failing call.
stress examen tools::parallel_calls tools::a_fatal_call_cancels_its_parallel_siblings
