# Quick start: `make demo` and `make test` set up .venv themselves (idempotent).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

BENCH := .venv-bench
BENCH_STAMP := $(BENCH)/.installed

OMM := .venv-openmmlab
OMM_STAMP := $(OMM)/.installed

.PHONY: demo test venv bench clean test-openmmlab bench-openmmlab docs docs-serve dist lint format

$(STAMP): pyproject.toml constraints-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints-dev.txt torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -c constraints-dev.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The torchinit command on the example detector: rules, summary, health check, and a plot of
# measured vs promised weight std (build/ is ignored by git).
demo: $(STAMP)
	$(BIN)/torchinit init --plot build/demo/init.png

test: $(STAMP)
	$(BIN)/python -m pytest

# ruff (lint and format check) and mypy on src/, as CI runs them before the tests and the
# pre-commit hooks run them on a commit (.pre-commit-config.yaml); make format applies ruff's fixes.
lint: $(STAMP)
	$(BIN)/ruff check src benchmarks tools
	$(BIN)/ruff format --check src benchmarks tools
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix src benchmarks tools
	$(BIN)/ruff format src benchmarks tools

# The documentation site (MkDocs + Material + mkdocstrings): the guide in docs/, README.md as the
# home page, and an API reference from the docstrings, built with --strict into build/site. Its
# tools live in their own environment, never in .venv nor in torchinit's dependencies.
DOCS := build/venv-docs
DOCS_STAMP := $(DOCS)/.installed
DOCS_DEPS := mkdocs==1.6.1 mkdocs-material==9.8.2 mkdocstrings==1.0.8 mkdocstrings-python==2.0.11 ruff==0.17.6

$(DOCS_STAMP): Makefile
	test -x $(DOCS)/bin/python || $(PY) -m venv $(DOCS)
	$(DOCS)/bin/pip install -q --disable-pip-version-check $(DOCS_DEPS)
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(DOCS)/bin/mkdocs build --strict

docs-serve: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(DOCS)/bin/mkdocs serve

# The sdist and the wheel in dist/, built offline with this environment's setuptools (make test
# also installs the wheel into a fresh environment: tests/test_packaging.py).
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist .

# The benchmark environment: torchinit plus mmengine-lite (measured side by side, never a
# dependency of torchinit itself). opencv is needed by mmengine's checkpoint module.
$(BENCH_STAMP): pyproject.toml constraints-dev.txt
	test -x $(BENCH)/bin/python || $(PY) -m venv $(BENCH)
	$(BENCH)/bin/pip install -q --disable-pip-version-check -c constraints-dev.txt torch==2.13.0
	$(BENCH)/bin/pip install -q --disable-pip-version-check -c constraints-dev.txt mmengine-lite==0.10.7 opencv-python-headless packaging
	$(BENCH)/bin/pip install -q --disable-pip-version-check -c constraints-dev.txt -e .
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH)/bin/python benchmarks/bench.py $(ARGS)

# Real mmpretrain 1.2 / mmdet 3.3 / mmseg 1.2 models against mmengine (issue 10). Not part of
# `make test` or CI: it installs ~1 GB and takes minutes. The three packages pin mmcv<2.2 and
# mmcv-lite pulls the full mmengine, so they and mmcv-lite come with --no-deps; OMM_DEPS are
# what they import while their models are built (torchvision must match torch; its compiled ops
# do not load next to the CPU build, see tests_openmmlab/openmmlab_shim.py).
OMM_DEPS := mmengine-lite==0.10.7 opencv-python-headless torchvision==0.28.0 addict numpy packaging Pillow \
	pyyaml yapf rich termcolor einops importlib-metadata modelindex matplotlib scipy shapely pycocotools six \
	terminaltables tqdm ftfy regex pytest
OMM_PIP := $(OMM)/bin/pip install -q --disable-pip-version-check

$(OMM_STAMP): pyproject.toml constraints-dev.txt
	test -x $(OMM)/bin/python || $(PY) -m venv $(OMM)
	$(OMM_PIP) -c constraints-dev.txt torch==2.13.0
	$(OMM_PIP) -c constraints-dev.txt $(OMM_DEPS)
	$(OMM_PIP) --no-deps mmcv-lite==2.2.0 mmpretrain==1.2.0 mmdet==3.3.0 mmsegmentation==1.2.2
	$(OMM_PIP) -c constraints-dev.txt -e .
	touch $(OMM_STAMP)

test-openmmlab: $(OMM_STAMP)
	$(OMM)/bin/python -m pytest -p no:cacheprovider tests_openmmlab $(ARGS)

bench-openmmlab: $(OMM_STAMP)
	$(OMM)/bin/python benchmarks/openmmlab_bench.py $(ARGS)

clean:
	rm -rf $(VENV) $(BENCH) build dist src/*.egg-info

# timm and Hugging Face models built from configs (no weights) against their libraries' own
# init, tensor by tensor, and through the torchinit command (issue 15). Not part of `make test`
# or CI: it installs ~1.4 GB. torchvision is only there for timm to import (its compiled ops do
# not load next to the CPU torch; see tests_ecosystem/ecosystem_shim.py).
ECO := .venv-ecosystem
ECO_STAMP := $(ECO)/.installed
ECO_PIP := $(ECO)/bin/pip install -q --disable-pip-version-check -c constraints-dev.txt
ECO_DEPS := timm==1.0.29 transformers==5.18.0 torchvision==0.28.0 numpy pytest

.PHONY: test-ecosystem

$(ECO_STAMP): pyproject.toml constraints-dev.txt
	test -x $(ECO)/bin/python || $(PY) -m venv $(ECO)
	$(ECO_PIP) torch==2.13.0
	$(ECO_PIP) $(ECO_DEPS)
	$(ECO_PIP) -e '.[dev]'
	touch $(ECO_STAMP)

test-ecosystem: $(ECO_STAMP)
	$(ECO)/bin/python -m pytest -p no:cacheprovider tests_ecosystem $(ARGS)
