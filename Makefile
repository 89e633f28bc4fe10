# Thin wrappers: every target's logic lives in the pipeline package.
PY := .venv/bin/python
PIP := .venv/bin/pip
ARGS ?=

.PHONY: install transcribe test test-fast demo eval bench status review sysdeps clean

.venv/.installed: pyproject.toml
	@$(MAKE) --no-print-directory sysdeps
	python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[openai,speakers,test,ray]'
	$(PIP) install -q --no-deps openai-whisper==20250625 resemblyzer==0.1.4
	touch $@

install: .venv/.installed

# ffmpeg decodes audio; espeak-ng speaks the demo, test and eval episodes; chromium runs the
# review-page tests. Installed when missing and apt-get is usable, otherwise we say what to install.
sysdeps:
	@missing=""; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	command -v espeak-ng >/dev/null || missing="$$missing espeak-ng"; \
	command -v chromium >/dev/null || missing="$$missing chromium chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Please install:$$missing (e.g. sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

transcribe: install
	$(PY) -m pipeline transcribe $(ARGS)

status: install
	$(PY) -m pipeline status $(ARGS)

review: install
	$(PY) -m pipeline review $(ARGS)

test: install
	$(PY) -m pytest -q $(ARGS)

# No real model, browser or lab run: the fake engine and diarizer (tests/fakes.py) stand in.
test-fast: install
	$(PY) -m pytest -q -m "not model and not chromium and not lab" $(ARGS)

demo: install
	$(PY) -m pipeline demo $(ARGS)

eval: install
	$(PY) -m pipeline eval $(ARGS)

bench: install
	$(PY) -m pipeline bench $(ARGS)

clean:
	rm -rf .venv .eval .bench .demo transcripts/audio transcripts/cache
