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

.PHONY: demo test synth bench lint typecheck clean check-tools

demo: $(STAMP)
	$(BIN)/mlops demo --stage $(STAGE) --project $(PROJECT)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2 --dist worksteal

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

$(STAMP): requirements.txt functions/requirements.txt pyproject.toml | check-tools
	@started=$$(date +%s); \
	echo "installing the toolkit's dependencies into $(VENV) (a few minutes on a fresh machine)"; \
	{ test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); } && \
	$(BIN)/python -m pip install --quiet --upgrade pip && \
	$(BIN)/python -m pip install --quiet -r requirements.txt && \
	$(BIN)/python -m pip install --quiet --no-deps -e . && \
	rm -f $(VENV)/.installed-* && touch $(STAMP) && \
	echo "install took $$(( $$(date +%s) - started )) s"

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache .mypy_cache
