# Set-up and checks. `make setup` creates .venv from pyproject.toml with every extra, torch
# pinned to 2.13.0 by constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

.PHONY: setup test lint run bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt -e '.[dev]'
	touch $@

lint: setup
	ruff check .
	ruff format --check .
	snakefmt --check Snakefile workflow
	snakemake --lint

test: lint
	pytest

run: setup
	snakemake --cores all

bench: setup
	python benchmarks/bench_speed.py
	python benchmarks/bench_align.py --epochs 3
	python benchmarks/bench_align.py --shape baby

clean:
	rm -rf .snakemake results/* resources
