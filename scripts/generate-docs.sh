#!/usr/bin/env bash
# Regenerates the files made from the clap definitions: man pages (docs/man/) and shell
# completions (docs/completions/). cli/tests/generated.rs fails when they are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p pend -p penctl --bin pend --bin penctl
target/debug/pend --manpage > docs/man/pend.8
target/debug/penctl manpage > docs/man/penctl.1
for shell in bash zsh fish; do
    target/debug/penctl completions "$shell" > "docs/completions/penctl.$shell"
done
echo "regenerated docs/man and docs/completions"
