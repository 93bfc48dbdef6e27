# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench gallery parity clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# PyTorch is a test-only oracle (the `parity` extra): `make parity` installs it into .venv and runs
# the suite with the parity tests required (.ci/run does the same).
parity: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,parity]'
	TINYGRAD_CNN_REQUIRE_TORCH=1 $(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m tinygrad_cnn train --dataset digits --model cnn --epochs 12 --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run.py

gallery: $(STAMP)
	$(PY) -m tinygrad_cnn gallery --out viz

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
