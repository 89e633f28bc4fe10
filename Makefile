# Thin wrappers: every target's logic lives in the pipeline package.
PY := .venv/bin/python
PIP := .venv/bin/pip
ARGS ?=
# Where torch comes from. Empty: PyPI. The scheduled workflow sets the CPU-only index
# (https://download.pytorch.org/whl/cpu): a few hundred MB instead of several GB of CUDA.
TORCH_INDEX ?=

.PHONY: install runtime transcribe publish test test-fast lint demo eval bench status review sysdeps sysdeps-run clean

# What transcription needs (faster-whisper, diarization, ffmpeg), and no more: this is all that
# `make transcribe`, `status`, `review` and `publish` install, as any user.
.venv/.runtime: pyproject.toml
	@if [ -f .venv/.installed ] && [ .venv/.installed -nt pyproject.toml ]; then touch $@; \
	else $(MAKE) --no-print-directory runtime; fi

runtime:
	@$(MAKE) --no-print-directory sysdeps-run
	python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) install -q -e '.[speakers]'
	$(PIP) install -q --no-deps resemblyzer==0.1.4
	touch .venv/.runtime

# Everything: the reference engine, the test tools, espeak-ng and Chromium for demo and tests.
.venv/.installed: .venv/.runtime
	@$(MAKE) --no-print-directory sysdeps
	$(PIP) install -q -e '.[openai,speakers,test,ray]'
	$(PIP) install -q --no-deps openai-whisper==20250625 resemblyzer==0.1.4
	touch $@

install: .venv/.installed

# ffmpeg decodes audio; espeak-ng speaks the demo, test and eval episodes; chromium runs the
# review-page tests. Installed when missing and apt-get is usable, otherwise we say what to install.
sysdeps-run:
	@$(MAKE) --no-print-directory sysdeps NEED="ffmpeg"

NEED ?= ffmpeg espeak-ng chromium
sysdeps:
	@missing=""; \
	for tool in $(NEED); do \
	  command -v $$tool >/dev/null || case $$tool in \
	    chromium) missing="$$missing chromium chromium-driver";; \
	    *) missing="$$missing $$tool";; esac; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Please install:$$missing (e.g. sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

transcribe: .venv/.runtime
	$(PY) -m pipeline transcribe $(ARGS)

status: .venv/.runtime
	$(PY) -m pipeline status $(ARGS)

review: .venv/.runtime
	$(PY) -m pipeline review $(ARGS)

publish: .venv/.runtime
	$(PY) -m pipeline publish $(ARGS)

test: install
	$(PY) -m pytest -q $(ARGS)

# No real model, browser or lab run: the fake engine and diarizer (tests/fakes.py) stand in.
# Two workers: the fast tier mostly waits on real subprocesses and servers (42 s vs 64 s idle).
test-fast: install
	$(PY) -m pytest -q -n 2 -m "not model and not chromium and not lab" --hypothesis-profile=fast $(ARGS)

# ruff (mistakes, import order; no reformatting) on pipeline/ and tests/, mypy --strict on pipeline/
# (the lab excepted); both configured in pyproject.toml.
lint: install
	$(PY) -m ruff check pipeline tests
	$(PY) -m mypy

demo: install
	$(PY) -m pipeline demo $(ARGS)

eval: install
	$(PY) -m pipeline eval $(ARGS)

bench: install
	$(PY) -m pipeline bench $(ARGS)

clean:
	rm -rf .venv .eval .bench .demo transcripts/audio transcripts/cache
