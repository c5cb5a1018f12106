# The two commands of the README: `make run` starts the server, `make test` runs every test.
# Both install what they need (Debian packages, a Python venv for the test peers) and are idempotent.

CARGO ?= cargo
PYTHON_VENV := .venv/bin/python

.PHONY: run test test-sqlite test-postgres test-rust test-peers test-browser lint bench bench-provisioning deps test-deps fuzz

deps:
	./scripts/install-system-deps.sh

test-deps:
	./scripts/install-system-deps.sh --test
	./scripts/peers-venv.sh
	./scripts/browser-deps.sh

## Start the server on http://127.0.0.1:8080 with SQLite (and the keys sealed in it) under ./data.
run: deps
	$(CARGO) run --release -- serve

## Every test: formatting, lints, then the Rust tests and the real-peer suites on SQLite and again on PostgreSQL.
test: test-deps lint test-sqlite test-postgres

test-sqlite:
	env -u SESAME_TEST_DATABASE_URL $(MAKE) --no-print-directory test-rust test-peers test-browser

## The same suites on a throw-away PostgreSQL (Debian's packages, a temp dir, a loopback port), stopped at the end
## even when a test fails. Each test gets a database of its own on it.
test-postgres:
	./scripts/pg-temp.sh run $(MAKE) --no-print-directory test-rust test-peers

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

test-rust:
	$(CARGO) test

test-peers:
	$(CARGO) build --bin sesame
	SESAME_BIN=$(CURDIR)/target/debug/sesame $(PYTHON_VENV) -m pytest tests/peers -q

## The admin console and portal in Debian's chromium (playwright-core) against `sesame serve` and a pysaml2 SP on
## loopback; screenshots of every page go to target/screenshots/. Run once, on SQLite (the pages do not depend on
## the backend, which the suites above already cover twice).
test-browser:
	$(CARGO) build --bin sesame
	cd tests/browser && SESAME_BIN=$(CURDIR)/target/debug/sesame PYTHON=$(CURDIR)/$(PYTHON_VENV) \
		SCREENSHOT_DIR=$(CURDIR)/target/screenshots node --test --test-concurrency=1

## SSO throughput against the raw RSA rate of this machine (release build; not part of the tests).
bench: deps
	$(CARGO) bench --bench sso

## 10,000 users provisioned into scim2-server, against the same server's rate for direct creates (release build).
bench-provisioning: test-deps
	$(CARGO) bench --bench provisioning

## Coverage-guided fuzzing (cargo-fuzz with libFuzzer, fuzz/): each target runs FUZZ_SECS seconds (default 600)
## from the committed seeds (fuzz/corpus/) and past crashes (fuzz/regressions/). What it learns goes to fuzz/work/,
## a crash to fuzz/artifacts/<target>/ (neither committed); a target that crashes fails the run after the rest ran. Not part of `make test`,
## which replays the seeds and regressions on stable (tests/fuzz_corpus.rs). cargo-fuzz is installed once into
## .tools/; the stable toolchain accepts libFuzzer's sanitizer flags with RUSTC_BOOTSTRAP=1.
FUZZ_SECS ?= 600
FUZZ_TARGETS ?= redirect post_authn_request logout sp_metadata scim_response settings
CARGO_FUZZ := $(CURDIR)/.tools/bin/cargo-fuzz

fuzz: $(CARGO_FUZZ)
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO_FUZZ) build
	cd fuzz && failed=; for t in $(FUZZ_TARGETS); do \
		mkdir -p work/$$t regressions/$$t; \
		RUSTC_BOOTSTRAP=1 $(CARGO_FUZZ) run $$t work/$$t corpus/$$t regressions/$$t -- \
			-max_total_time=$(FUZZ_SECS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in$$failed (inputs under fuzz/artifacts/)"; exit 1; fi

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --version 0.13.2 --locked --root $(CURDIR)/.tools
