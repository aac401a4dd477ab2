# `make demo` / `make test` set everything up on a fresh machine: they create .venv (or use
# the active virtualenv when VIRTUAL_ENV is set) and install jkb with its test extras.
VENV ?= .venv
ifdef VIRTUAL_ENV
PY := $(VIRTUAL_ENV)/bin/python
STAMP := $(VIRTUAL_ENV)/.jkb-installed
else
PY := $(VENV)/bin/python
STAMP := $(VENV)/.jkb-installed
endif
PYTEST_ARGS ?=

PEERS_VENV ?= .venv-peers

.PHONY: install demo test test-fast bench bench-peers-venv lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test,keras231,checkpoint]'
	@touch $(STAMP)

demo: install
	$(PY) examples/walkthrough.py
	$(PY) examples/train_logreg.py
	$(PY) examples/data_parallel.py

test: install
	$(PY) -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -n 2 --dist loadfile -q -m "not slow and not keras231" $(PYTEST_ARGS)

bench: install
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

# TensorFlow + tf_keras for the peer rows of `make bench`, in an environment of their own
# (TensorFlow 2.21 needs Keras 3, which would replace Keras 2.3.1); benchmarks/peers.py
# finds $(PEERS_VENV)/bin/python by itself.
bench-peers-venv:
	@test -x $(PEERS_VENV)/bin/python || python3 -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install -q -e '.[bench-peers]'

lint: install
	$(PY) -m ruff check jkb tests examples benchmarks

clean:
	rm -rf $(VENV) $(PEERS_VENV) .pytest_cache build *.egg-info
