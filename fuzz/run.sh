#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 15): CI runs it short, a nightly-style
# run long (`fuzz/run.sh 600`). Needs cargo-fuzz (`cargo install cargo-fuzz --locked`).
# On the stable toolchain cargo fuzz needs RUSTC_BOOTSTRAP=1 and runs without a sanitizer;
# the targets assert their properties themselves. A crash stops the run, names the input
# (fuzz/artifacts/<target>/), and must be fixed with the input added as a regression test.
# fuzz/corpus/<target>/ holds the hand-made seeds only; what a run discovers goes to
# fuzz/target/corpus/<target>/ (ignored by git), so fuzzing never dirties the tree.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-15}"
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in $targets; do
    echo "--- fuzz $target for ${seconds}s"
    # libFuzzer writes what it finds into the first corpus folder: a scratch one under
    # target/ (kept between local runs, never committed); the checked-in seeds are read only.
    scratch="target/corpus/$target"
    mkdir -p "$scratch"
    if ! cargo fuzz run "$target" "$scratch" "corpus/$target" --sanitizer none \
            -- -max_total_time="$seconds" >"$log" 2>&1; then
        grep -E "SUMMARY|panicked|Failing input|artifacts/" "$log" || tail -n 40 "$log"
        echo "fuzzing: $target found a failing input"
        exit 1
    fi
    grep -E "^Done" "$log"
done
echo "fuzzing: every target ran ${seconds}s without a finding"
