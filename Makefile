# The two commands a learner needs:  make demo  (the main job)  and  make test  (every check).
SHELL := /bin/bash
VENV ?= .venv
PY   := $(VENV)/bin/python
BIN  := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha256sum | cut -c1-12)

.PHONY: browser-deps install demo report test check-clean check-export nbdev-test pytest tidy lab docs bench corpus models

# A local virtual environment with the package (editable), its dev tools and the `scale` extra (Ray, for the scale
# lesson and its test); rebuilt when pyproject.toml changes.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install -q --python $(PY) --compile-bytecode -e ".[dev,scale]"
	# a General-MIDI soundfont renderer for the export lesson's audio, from pip alone: its pyaudio dependency is for live
	# playback only, so it is installed without dependencies (to_audio falls back to NumPy without it)
	$(BIN)/uv pip install -q --python $(PY) --no-deps tinysoundfont==0.3.7
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# Debian's Chromium for the browser tests (site and studio), driven by Python Playwright; no `playwright install`.
browser-deps:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

## main job: the corpus report, a quick classifier and generator, one piece per composer judged by the classifier
## (runs/demo/: MIDI, WAV, PNG, metrics.json); `make report` prints only the corpus report
demo: install
	$(BIN)/maestro demo

report: install
	$(BIN)/maestro report

## every check, in order: notebooks clean, library in sync, notebooks run, pytest
test: install browser-deps check-clean check-export nbdev-test pytest

check-clean: install
	@tools/unchanged.sh nbs -- $(BIN)/nbdev-clean || { echo "nbdev-clean changed notebooks: run 'make tidy' (nbdev-clean) and commit"; exit 1; }
	@echo "notebooks clean: ok"

check-export: install
	@tools/unchanged.sh maestro_lessons -- $(BIN)/nbdev-export || { echo "library out of sync with nbs/: run nbdev-export and commit"; exit 1; }
	@echo "library in sync with nbs/: ok"

# every notebook runs once, here, two at a time (pytest holds the cross-lesson, bad-input and browser tests)
nbdev-test: install
	$(BIN)/nbdev-test --n-workers 2

# on every core (pytest-xdist), each test file in one worker so that its module fixtures are made once
pytest: install
	$(BIN)/python -m pytest -q -n auto --dist loadfile

tidy: install
	$(BIN)/nbdev-clean && $(BIN)/nbdev-export && $(PY) tools/make_readme.py

lab: install
	$(BIN)/jupyter lab nbs/

## docs: the site in _docs/ (real Quarto when it is on the PATH, else nbdev's processing + smalldocs, offline)
docs: install
	$(PY) tools/build_docs.py

bench: install
	$(PY) benchmarks/read_notes.py

## re-create the shipped models in models/ (resumable: finished training runs are kept in the cache; see models/README.md)
models: install
	$(PY) models/recipe.py classifier
	$(PY) models/recipe.py generator
	$(PY) models/recipe.py opening
	$(PY) benchmarks/generation_quality.py --write

## re-create the bundled corpus from music21 (slow; its output is committed)
corpus: install
	$(PY) datasets/build_corpus.py
