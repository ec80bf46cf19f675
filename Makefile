# Two commands do all set-up: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt functions/requirements.txt pyproject.toml | sha256sum | cut -c1-12)
STAGE ?= dev
# The project the demo runs (make demo PROJECT=examples/<other> or any project folder).
PROJECT ?= examples/seattle_weather

# jsii (under aws-cdk-lib) warns loudly on Node 20; the warning is known and harmless here.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: demo test synth bench lint typecheck clean check-tools browser

# make demo VERBOSE=1 also shows the function and library logs (always in .mlops/demo.log).
demo: $(STAMP)
	$(BIN)/mlops demo --stage $(STAGE) --project $(PROJECT)$(if $(VERBOSE), --verbose)

# pytest loads only the plugin the suite uses (xdist): auto-loading every installed pytest11 plugin also marks
# whole packages (hypothesis, schemathesis, anyio, typeguard) for assertion rewriting, so each test process
# recompiled them from source. Bytecode is written even where PYTHONDONTWRITEBYTECODE is set, so the workers and
# the suite's subprocesses reuse what the first process compiled.
PYTEST_ENV := PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONDONTWRITEBYTECODE=
test: $(STAMP) | browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(PYTEST_ENV) $(BIN)/pytest -q -p xdist -n 2 --dist worksteal

synth: $(STAMP)
	$(BIN)/mlops synth --stage $(STAGE) --project $(PROJECT) --out cdk.out

# Benchmarks run in .venv-bench (the product + matplotlib, DuckDB, Polars); Feast, MLflow and Evidently each get their own
# environment, since their pins clash with the product's (see benchmarks/requirements-peers.txt). A peer that
# fails to install is reported by its benchmark ("did not run"), never replaced by a number.
BENCH := .venv-bench
BENCH_STAMP := $(BENCH)/.installed-$(shell cat requirements.txt functions/requirements.txt pyproject.toml benchmarks/requirements-peers*.txt | sha256sum | cut -c1-12)

bench: $(BENCH_STAMP)
	$(BENCH)/bin/python -m benchmarks.run

$(BENCH_STAMP): requirements.txt functions/requirements.txt pyproject.toml benchmarks/requirements-peers.txt benchmarks/requirements-peers-feast.txt benchmarks/requirements-peers-mlflow.txt benchmarks/requirements-peers-evidently.txt | check-tools
	@test -x $(BENCH)/bin/python || $(PYTHON) -m venv $(BENCH)
	$(BENCH)/bin/python -m pip install --quiet -r requirements.txt
	$(BENCH)/bin/python -m pip install --quiet --no-deps -e .
	$(BENCH)/bin/python -m pip install --quiet -r requirements.txt -r benchmarks/requirements-peers.txt \
		|| echo "warning: matplotlib/duckdb/polars did not install; charts or the DuckDB/Polars comparisons will be missing"
	@for peer in feast mlflow evidently; do \
		test -x $(BENCH)-$$peer/bin/python || $(PYTHON) -m venv $(BENCH)-$$peer; \
		$(BENCH)-$$peer/bin/python -m pip install --quiet -r benchmarks/requirements-peers-$$peer.txt \
			|| echo "warning: $$peer did not install; its comparison will say so"; \
	done
	@rm -f $(BENCH)/.installed-*
	@touch $(BENCH_STAMP)

typecheck: $(STAMP)
	$(BIN)/mypy

check-tools:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: Python 3.11 or newer is required: install it from https://www.python.org/downloads/"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: Python 3.11 or newer is required, $(PYTHON) is $$($(PYTHON) --version 2>&1): install a newer Python"; exit 1; }
	@command -v node >/dev/null 2>&1 || { echo "error: Node.js 20 or newer is required by the AWS CDK: install it from https://nodejs.org/"; exit 1; }

# The install says what it does, step by step, with the time so far; pip's per-package lines are condensed by
# PIP_PROGRESS (on a terminal, one line that updates; elsewhere, e.g. CI, one line a package).
PIP_PROGRESS = awk \
	'BEGIN{tty = system("[ -t 1 ]") == 0} \
	/^Collecting /{n++; if (tty) {printf "\r      %d: %s\033[K", n, $$2; open = 1} else print "      " n ": " $$2; fflush()} \
	/^Installing collected packages/{if (open) printf "\n"; open = 0; print "      unpacking and installing them (the longest part: aws-cdk-lib, pyarrow, scikit-learn)"; fflush()} \
	/^Requirement already satisfied/{k++} \
	/^Successfully installed/{print "      " (NF - 2) " packages installed"} \
	END{if (open) printf "\n"; if (!n && k) print "      all " k " already installed"}'

$(STAMP): requirements.txt functions/requirements.txt pyproject.toml | check-tools
	@set -o pipefail; started=$$(date +%s); log=$(VENV)/install-log.txt; \
	say() { echo "[$$1/4 $$(( $$(date +%s) - started )) s] $$2"; }; \
	failed() { echo "error: the install failed at step $$1; the last lines of $$log:"; tail -n 25 $$log; exit 1; }; \
	echo "installing the toolkit's dependencies into $(VENV) (a few minutes on a fresh machine; later runs skip this)"; \
	say 1 "Python virtual environment $(VENV) ($$($(PYTHON) --version))"; \
	{ test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); } || exit 1; \
	echo "pip's warnings and errors go to $$log"; : > $$log; \
	say 2 "pip itself, upgraded"; \
	$(BIN)/python -m pip install --quiet --upgrade pip 2>>$$log || failed 2; \
	say 3 "requirements.txt: the functions' libraries (pandas, scikit-learn, pyarrow, Powertools), the CDK and cdk-nag, moto, the test tools"; \
	$(BIN)/python -m pip install --progress-bar off -r requirements.txt 2>>$$log | $(PIP_PROGRESS) || failed 3; \
	say 4 "this toolkit, editable (the mlops command)"; \
	$(BIN)/python -m pip install --quiet --no-deps -e . 2>>$$log || failed 4; \
	rm -f $(VENV)/.installed-* && touch $(STAMP) && \
	echo "install took $$(( $$(date +%s) - started )) s"

# The drift report's rendering test (tests/unit/test_report_rendering.py) opens a report in headless Chromium, and the
# web UI's browser tests (tests/ui) drive one with Selenium through Debian's chromedriver (chromium-driver): when
# either is missing and apt-get can (root, or sudo without a password), install Debian's chromium-headless-shell
# (Chromium's headless build: half the time, a quarter of the CPU of the full browser), else its chromium, and
# chromium-driver. Nothing is downloaded at test time.
BROWSERS := chromium-headless-shell chromium chromium-browser google-chrome-stable google-chrome
browser:
	@found=$${MLOPS_CHROMIUM:-}; for b in $(BROWSERS); do [ -n "$$found" ] || found=$$(command -v $$b); done; \
	driver=$$(command -v chromedriver); \
	if [ -n "$$found" ] && [ -n "$$driver" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
		as=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		echo "installing Chromium and chromedriver with apt-get (the drift report's rendering test and the UI's browser tests use them)"; \
		$$as apt-get update -qq; \
		{ [ -n "$$found" ] || $$as env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell >/dev/null 2>&1 \
			|| $$as env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
			&& echo "Chromium: $$(command -v chromium-headless-shell || command -v chromium)" \
			|| echo "warning: apt-get could not install Chromium: the drift report's rendering test and the UI's browser tests will fail"; \
		{ [ -n "$$driver" ] || $$as env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-driver >/dev/null; } \
			&& echo "chromedriver: $$(command -v chromedriver)" \
			|| echo "warning: apt-get could not install chromium-driver: the UI's browser tests will fail"; \
	else echo "warning: no Chromium ($(BROWSERS)) or no chromedriver found: the drift report's rendering test or the UI's browser tests will fail; install Debian's (apt-get install chromium-headless-shell chromium-driver) or set MLOPS_CHROMIUM to a Chromium binary"; fi

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache .mypy_cache
