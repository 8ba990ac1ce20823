#!/usr/bin/env bash
# Soak: 100,000 samples through a slow mock model (50 ms) with max_samples 1,000 and an .eval
# log, once per backend. Prints the resident set size at 10,000 and at 100,000 samples and
# fails when the log does not hold every sample exactly once. Not part of .ci/run (minutes).
#
#   crates/examen/soak.sh [N] [latency ms]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p examen --example soak
for backend in tokio smol; do
    EXAMEN_ASYNC_BACKEND=$backend target/release/examples/soak "${1:-100000}" "${2:-50}"
done
