# Quick start: `make demo` and `make test` set up .venv themselves (idempotent).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

BENCH := .venv-bench
BENCH_STAMP := $(BENCH)/.installed

.PHONY: demo test venv bench clean

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

clean:
	rm -rf $(VENV) $(BENCH) build dist src/*.egg-info
