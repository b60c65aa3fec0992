#!/usr/bin/env bash
# `make test`: every unit, integration and end-to-end test. The end-to-end tests run against a
# local stack of their own (with-stack.sh). Exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
PAGEDESK_INSTALL_BROWSER=1 bash infra/scripts/install-tools.sh
(cd web && node build.mjs && node --test test/)
cargo build --workspace --all-targets --locked
set +e
PAGEDESK_IAM_REPORT=1 bash infra/scripts/with-stack.sh debug cargo test --workspace --locked --no-fail-fast -- ${TEST_ARGS:-}
main=$?
# Outages and Graph fault storms hit everything on their stack: they get one of their own.
bash infra/scripts/with-stack.sh debug cargo test -p pagedesk-e2e --test faults --locked -- --ignored --test-threads=1
faults=$?
# Reconciliation needs a short period, which would add Graph calls to every other test's Pages.
PAGEDESK_RECONCILE_SECONDS=2 PAGEDESK_PAGE_CHECK_SECONDS=2 bash infra/scripts/with-stack.sh debug cargo test -p pagedesk-e2e --test reconcile --locked -- --ignored --test-threads=1
reconcile=$?
[ "$main" -eq 0 ] && [ "$faults" -eq 0 ] && [ "$reconcile" -eq 0 ]
