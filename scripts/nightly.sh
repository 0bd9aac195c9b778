#!/usr/bin/env bash
# The long runs CI keeps short: fuzzing, crash consistency, soak, and the benchmarks with
# the full idle minute. Takes about an hour on the 2-core build machine.
#   FUZZ_SECONDS (600 per target), CRASH_ITERATIONS (500), SOAK_SECONDS (900)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet
bash fuzz/run.sh "${FUZZ_SECONDS:-600}"
CRASH_ITERATIONS="${CRASH_ITERATIONS:-500}" cargo test -q -p penctl --test crash -- --nocapture
SOAK_SECONDS="${SOAK_SECONDS:-900}" cargo test -q -p penctl --test soak -- --nocapture
IDLE_SECONDS=60 cargo bench -q -p penctl --bench daemon
cargo bench -q -p penctl --bench calibration
