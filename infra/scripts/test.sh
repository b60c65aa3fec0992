#!/usr/bin/env bash
# `make test`: every unit, integration and end-to-end test. The end-to-end tests run against a
# local stack of their own (with-stack.sh). Exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
bash infra/scripts/install-tools.sh
cargo build --workspace --all-targets --locked
exec bash infra/scripts/with-stack.sh debug cargo test --workspace --locked --no-fail-fast -- ${TEST_ARGS:-}
