# pagedesk. `make dev` runs the whole bundle locally; `make test` runs every test.
# `sam build` builds each function with cargo lambda (BuildMethod: rust-cargolambda) for the
# template's Architecture parameter; `make lambda` and `make glibc-check` do the same here.

CARGO ?= cargo
# provided.al2023 ships glibc 2.34; the glibc-check target enforces it.
GLIBC_MAX ?= 2.34
# The functions' processor, as the template's Architecture parameter (arm64 by default).
ARCH ?= arm64

.PHONY: dev test tools web screenshots deploy-web build lint fmt clippy template-lint release lambda glibc-check sam-build sam-validate bench load fuzz clean

tools:
	@bash infra/scripts/install-tools.sh

build:
	$(CARGO) build --workspace --locked

# The reference inbox (web/): npm ci (by `tools`) and an esbuild bundle into web/dist.
web: tools
	cd web && node build.mjs

# Same build as `make test` (same feature set), so one warm cache serves both.
dev: web
	$(CARGO) build --workspace --all-targets --locked
	@# Locally, settings and routing rules take effect at once (no router cache); deployed
	@# routers keep them PAGEDESK_SETTINGS_CACHE_SECONDS (15) to save a read per message.
	PAGEDESK_SETTINGS_CACHE_SECONDS=$${PAGEDESK_SETTINGS_CACHE_SECONDS:-0} ./target/debug/pagedesk-local --seed-demo

test:
	@bash infra/scripts/test.sh

# The reference inbox to the stack's InboxBucket (template parameter InboxHosting=cloudfront).
deploy-web: web
	STACK=$(STACK) bash infra/scripts/deploy-web.sh

# Screenshots of the inbox and a conversation for the docs (docs/screenshots/), taken by the
# browser test against a local stack.
screenshots: web
	PAGEDESK_INSTALL_BROWSER=1 bash infra/scripts/install-tools.sh
	$(CARGO) build --workspace --all-targets --locked
	PAGEDESK_SCREENSHOT_DIR=$(CURDIR)/docs/screenshots bash infra/scripts/with-stack.sh debug cargo test -p pagedesk-e2e --test web --locked -- --test-threads=1

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

template-lint: tools
	.local/venv/bin/cfn-lint template.yaml

lint: fmt clippy template-lint

# ---- Lambda artifacts ----------------------------------------------------------------------
FUNCTIONS = webhook router agent-api sender scheduler meta-callbacks hooks

# Extra rustc flags for `make release` (the host's binaries the bench starts). Empty: they are
# position-independent executables, so the kernel randomises where the image loads (ASLR). The
# fixed-address build
# (`-C relocation-model=static`) used before saved dynamic relocations, but measured no start-up
# difference worth the lost ASLR (DESIGN.md "Performance and cost").
LAMBDA_RUSTFLAGS ?=

release:
	$(foreach f,$(FUNCTIONS),$(CARGO) rustc --release --locked -p pagedesk-$(f) --bin $(f) -- $(LAMBDA_RUSTFLAGS) &&) true

# The Lambda artifacts as `sam build` makes them: cargo lambda (installed on demand into
# .local/lambda with its zig) cross-compiles for ARCH against an old glibc, into
# target/lambda/<function>/bootstrap.
LAMBDA_ENV = PATH="$(CURDIR)/.local/lambda/bin:$$PATH"
lambda:
	@PAGEDESK_INSTALL_LAMBDA=1 PAGEDESK_LAMBDA_ARCH=$(ARCH) bash infra/scripts/install-tools.sh
	$(LAMBDA_ENV) $(CARGO) lambda build --release --locked $(if $(filter arm64,$(ARCH)),--arm64,--x86-64) $(foreach f,$(FUNCTIONS),--bin $(f))

# Every function binary for ARCH needs at most GLIBC_MAX (read with readelf, which reads either
# architecture's binaries).
glibc-check: lambda
	@for f in $(FUNCTIONS); do \
	  b=target/lambda/$$f/bootstrap; \
	  v=$$(readelf -W --dyn-syms -V $$b | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1); \
	  top=$$(printf '%s\n%s\n' "$$v" "$(GLIBC_MAX)" | sort -V | tail -1); \
	  size=$$(stat -c %s $$b); \
	  echo "$$f ($(ARCH)): needs glibc $$v, $$size bytes"; \
	  [ "$$top" = "$(GLIBC_MAX)" ] || { echo "$$f needs glibc $$v > $(GLIBC_MAX) (provided.al2023)"; exit 1; }; \
	done

# sam-cli is large; it is installed on demand.
sam-validate:
	@PAGEDESK_INSTALL_SAM=1 bash infra/scripts/install-tools.sh
	SAM_CLI_TELEMETRY=0 .local/venv/bin/sam validate --lint --region us-east-1

# rust-cargolambda is a SAM beta build method: samconfig.toml opts in, as the variable does here.
sam-build:
	@PAGEDESK_INSTALL_SAM=1 PAGEDESK_INSTALL_LAMBDA=1 PAGEDESK_LAMBDA_ARCH=$(ARCH) bash infra/scripts/install-tools.sh
	$(LAMBDA_ENV) SAM_CLI_TELEMETRY=0 SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 .local/venv/bin/sam build --build-in-source --parameter-overrides Architecture=$(ARCH)

# Figures to compare from run to run: binary sizes and start-up (release builds), webhook CPU
# per event against its floor, AWS requests and DynamoDB units per operation, dollars per
# million, local latency.
bench: tools release
	$(CARGO) build --profile bench-local --locked -p pagedesk-local -p pagedesk-e2e
	./target/bench-local/startup
	@PAGEDESK_MEASURE_CAPACITY=1 PAGEDESK_PAGE_CHECK_SECONDS=86400 PAGEDESK_LOCAL_SCHEDULE_SECONDS=3600 PAGEDESK_SETTINGS_CACHE_SECONDS=15 bash infra/scripts/with-stack.sh bench-local ./target/bench-local/bench

# 10,000 inbound messages over 1,000 conversations through the local stack (two pollers per
# queue): time to drain, lost, duplicated, out of order. LOAD_MESSAGES, LOAD_PEOPLE, LOAD_BODY.
load: tools
	$(CARGO) build --profile bench-local --locked -p pagedesk-local -p pagedesk-e2e
	@PAGEDESK_LOCAL_POLLERS=2 PAGEDESK_LOCAL_SCHEDULE_SECONDS=3600 bash infra/scripts/with-stack.sh bench-local ./target/bench-local/load

# The property tests of the internet-facing parsers with a long budget (make test runs 256
# cases a property). FUZZ_CASES=N to change it; the report is the last lines printed.
FUZZ_CASES ?= 20000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test -p pagedesk-shared --test properties --locked -- --nocapture --test-threads 2
	@echo "fuzz: 5 properties x $(FUZZ_CASES) cases, no failure (a failure prints its minimal input above)"

clean:
	$(CARGO) clean
	rm -rf .local/logs
