# ptychopinn: the two commands of the README.
#   make demo   set up .venv (if missing) and run the whole mission on the embedded default data
#   make test   set up .venv (if missing) and run the test suite
# Both are safe to re-run; the virtual environment is created once and refreshed cheaply.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.ptychopinn-deps
DEMO_DIR ?= demo_output
export OMP_NUM_THREADS ?= 2

.PHONY: venv install demo pictures test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: the CPU wheel (an unpinned torch pulls a multi-GB CUDA build)
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q ".[all]"
	touch $(STAMP)

venv: $(STAMP)

# Re-install the package itself (no dependency resolution) so the Ptychodus plugin hook in
# site-packages/ptychodus/plugins/ always matches this checkout.
install: $(STAMP)
	$(PIP) install -q --no-deps --force-reinstall .

demo: install
	$(PY) -m ptycho_reconstructor.demo --output_dir $(DEMO_DIR)

# The documentation pictures (docs/images/): the demo's figure and two screenshots of the real
# Ptychodus main window (rendered offscreen), Infer with the pretrained model.
pictures: demo
	QT_QPA_PLATFORM=offscreen $(PY) docs/make_pictures.py --demo_output $(DEMO_DIR)

test: install
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -rs --durations=15 tests

LINT_PATHS := ptycho ptycho_torch ptycho_reconstructor ptychodus tests benchmarks docs

lint: $(STAMP)
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)
	$(PY) -m mypy --config-file pyproject.toml
	$(PY) -m pytest -q tests/test_import_layers.py

bench: install
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_tf.py
	$(PY) benchmarks/bench_torch.py

clean:
	rm -rf build *.egg-info $(DEMO_DIR) .pytest_cache
