# Two entry points (see README): `make demo` runs the main job, `make test` runs the test suite.
# Both set up everything they need on a fresh machine first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: demo test install dataset bench clean

demo: install dataset
	$(BIN)/oltr benchmark --suite fashion_mnist_lt --out results/fashion_mnist_lt --jobs 2

test: install dataset
	$(BIN)/python -m pytest -q

install: $(VENV)/.installed

# torch is pinned to the wheels on local disk; the project's own ranges never pull another build.
$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[test,plots,tensorboard,slurm]' torch==2.14.1 torchvision==0.29.1
	touch $@

# Debian's Fashion-MNIST (real images, offline) is the bundled default dataset.
dataset:
	@if [ -f $(FMNIST)/train-images-idx3-ubyte.gz ] || [ -f $(FMNIST)/train-images-idx3-ubyte ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	else echo "Fashion-MNIST missing: run 'sudo apt-get install dataset-fashion-mnist'" >&2; exit 1; fi

bench: install dataset
	$(BIN)/python benchmarks/losses.py
	$(BIN)/python benchmarks/data_loading.py
	$(BIN)/python benchmarks/models.py
	$(BIN)/python benchmarks/evaluation.py
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/grid.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
