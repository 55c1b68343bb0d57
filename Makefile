# segkit: `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The default glibc allocator returns freed tensor memory to the OS and page-faults it back every
# step; never trimming or mmapping made CPU training steps ~1.5x faster here (README, "Speed").
export GLIBC_TUNABLES ?= glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295
ARGS ?=
# test processes (pytest-xdist; 0 runs in this process); each test file stays in one process, so a
# file's fixtures are built once
TEST_WORKERS ?= 2

.PHONY: help install train voc test bench figures lint format clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(BIN)/segkit-train: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/segkit-train ## create .venv and install segkit (editable, with dev extras)

train: $(BIN)/segkit-train ## train the default recipe (extra Hydra overrides: make train ARGS="model/upsampler=max_unpool")
	$(BIN)/segkit-train $(ARGS)

voc: $(BIN)/segkit-train ## prepare Pascal VOC 2012 + SBD into data/voc (ARGS=--archives DIR)
	$(BIN)/python scripts/prepare_voc.py $(ARGS)

test: $(BIN)/segkit-train ## run the test suite
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile $(ARGS)

bench: $(BIN)/segkit-train ## benchmark every upsampler on this device (bench.json, bench.md, bench.png)
	$(BIN)/segkit-bench $(ARGS)

figures: $(BIN)/segkit-train ## draw docs/figures/upsampling (ARGS="--runs <sweep folder>" for the trained panel)
	$(BIN)/python scripts/figures.py $(ARGS)

lint: $(BIN)/segkit-train ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/segkit-train ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## remove caches and run outputs (keeps .venv and data/)
	rm -rf logs outputs multirun .pytest_cache .ruff_cache .hypothesis build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
