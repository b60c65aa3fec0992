#!/usr/bin/env bash
# Runs a command against a local stack of its own on free ports, torn down whatever happens.
# usage: with-stack.sh <cargo profile dir, e.g. debug> <command...>
# The command sees PAGEDESK_STACK_FILE (the JSON the stack writes when ready).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PROFILE_DIR="$1"; shift
RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/pagedesk-stack.XXXXXX")"
READY="$RUN_DIR/stack.json"
cleanup() {
  if [ -n "${STACK_PID:-}" ] && kill -0 "$STACK_PID" 2>/dev/null; then
    kill "$STACK_PID" 2>/dev/null || true
    wait "$STACK_PID" 2>/dev/null || true
  fi
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT INT TERM

# Port 0 everywhere: the OS picks free ports, so a `make dev` on the defaults can keep running.
PAGEDESK_WEBHOOK_PORT=0 PAGEDESK_API_PORT=0 PAGEDESK_SIM_PORT=0 PAGEDESK_WEB_PORT=0 \
PAGEDESK_DYNAMODB_PORT=0 PAGEDESK_MOTO_PORT=0 PAGEDESK_LOCAL_STACK="pagedesk-test" \
PAGEDESK_LOCAL_VISIBILITY_SECONDS=2 PAGEDESK_LOCAL_SCHEDULE_SECONDS="${PAGEDESK_LOCAL_SCHEDULE_SECONDS:-1}" PAGEDESK_GRAPH_TIMEOUT_MS=1500 PAGEDESK_SETTINGS_CACHE_SECONDS="${PAGEDESK_SETTINGS_CACHE_SECONDS:-0}" PAGEDESK_AI_AGENT_TIMEOUT_MS=1500 PAGEDESK_WEBHOOK_TIMEOUT_MS=1500 PAGEDESK_WEBHOOK_GIVE_UP_SECONDS="${PAGEDESK_WEBHOOK_GIVE_UP_SECONDS:-8}" PAGEDESK_INSTAGRAM_PRIVATE_REPLIES_PER_HOUR="${PAGEDESK_INSTAGRAM_PRIVATE_REPLIES_PER_HOUR:-3}" PAGEDESK_PAGE_CHECK_SECONDS="${PAGEDESK_PAGE_CHECK_SECONDS:-20}" RUST_LOG="${RUST_LOG:-warn}" PAGEDESK_ROOT="$ROOT" \
  "$ROOT/target/$PROFILE_DIR/pagedesk-local" --ready-file "$READY" > "$RUN_DIR/stack.log" 2>&1 &
STACK_PID=$!
for _ in $(seq 1 240); do
  [ -f "$READY" ] && break
  if ! kill -0 "$STACK_PID" 2>/dev/null; then
    echo "the local stack did not start:" >&2; cat "$RUN_DIR/stack.log" >&2; exit 1
  fi
  sleep 0.25
done
[ -f "$READY" ] || { echo "the local stack was not ready in 60 s" >&2; cat "$RUN_DIR/stack.log" >&2; exit 1; }

set +e
PAGEDESK_STACK_FILE="$READY" "$@"
rc=$?
set -e
# A call the local IAM check refused fails the run, even where the code only logged the
# refusal. With PAGEDESK_IAM_REPORT=1 (make test's main run): each function's actions, granted
# and used.
IAM_ARGS=--refusals-only
[ "${PAGEDESK_IAM_REPORT:-0}" = "1" ] && IAM_ARGS=
if ! python3 "$ROOT/infra/scripts/iam-report.py" "$READY" $IAM_ARGS; then
  echo "the local IAM check refused calls (above), or its report could not be read" >&2
  [ $rc -eq 0 ] && rc=1
fi
if [ $rc -ne 0 ]; then
  echo "--- last lines of the stack log ---" >&2
  tail -n 80 "$RUN_DIR/stack.log" >&2
fi
exit $rc
