# The two set-up commands of the README: `make run` and `make test`. Both create .venv and install sysgym first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# setup.py compiles the hottest simulator modules with mypyc; they are rebuilt in place when their folders change.
NATIVE := $(VENV)/.native
NATIVE_SOURCES := setup.py $(wildcard envs/core/*.py envs/storage/*.py envs/serving/*.py envs/preemption/*.py envs/moe/*.py)

.PHONY: run test results lint typecheck pytest java clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'setuptools>=77'
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP) $(NATIVE)

$(NATIVE): $(STAMP) $(NATIVE_SOURCES)
	$(BIN)/python setup.py -q build_ext --inplace
	touch $(NATIVE)

java:
	@command -v java >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null) || \
		echo "Java not found: the live Spark backend and its tests need Java 17"; }

run: $(NATIVE)
	$(BIN)/sysgym suite --out results/quick

# The learned-versus-heuristic table (results/README.md) and the exported policies of its agents; slow.
results: $(NATIVE)
	results/commands.sh
	results/policies/export.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy package envs agents runtime experiments

pytest: $(NATIVE) java
	$(BIN)/pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build dist *.egg-info
	find package envs -name "*.so" -delete
