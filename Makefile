# Two commands are all a user needs:  make lab   and   make test
# Both create .venv on first use and reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test setup proxy web site labs lint module benchmarks gpu-check clean

# Jupyter refuses to run as root (containers, CI) unless told that this is intended.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

# Notebooks are served with the kernel's Python version in their metadata, so opening one marks nothing as
# changed on any supported Python (cvcourse_utils/jupyter_contents.py).
CONTENTS := --ServerApp.contents_manager_class=cvcourse_utils.jupyter_contents.CourseContentsManager

lab: setup
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(CONTENTS) $(ROOT_FLAG) $(LAB_ARGS)

# Two test workers on two cores: one thread each (more threads per worker make small models crawl).
# tests/browser/ drives the system Chromium and is skipped, saying why, where there is none.
test: setup
	CVCOURSE_FAST=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env -p no:cacheprovider --durations=30

setup: $(STAMP)

$(STAMP): pyproject.toml .ci/jupyterlab-overrides.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@mkdir -p $(VENV)/share/jupyter/lab/settings && cp .ci/jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	@$(MAKE) --no-print-directory proxy web
	@# nbgrader is only for tests/test_nbgrader.py: its menus and server extensions stay off in the students' JupyterLab.
	@if $(BIN)/python -c "import nbgrader" 2>/dev/null; then \
		for e in formgrader validate_assignment assignment_list course_list; do \
			$(BIN)/jupyter server extension disable --sys-prefix nbgrader.server_extensions.$$e >/dev/null 2>&1; done; \
		$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1; fi; true
	@touch $(STAMP)

# JupyterHub's proxy, from the npm registry, into .venv/node (deploy/jupyterhub/jupyterhub_config.py finds it there).
# Optional: without npm the hub test is skipped and says why.
PROXY_BIN := $(VENV)/node/node_modules/.bin/configurable-http-proxy
proxy:
	@if [ -x $(PROXY_BIN) ]; then :; \
	elif command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --prefix $(VENV)/node "configurable-http-proxy@^5" >/dev/null 2>&1 \
		&& echo "configurable-http-proxy installed into $(VENV)/node" \
		|| echo "note: npm could not install configurable-http-proxy; the hub test will be skipped"; \
	else echo "note: npm is not installed, so neither is configurable-http-proxy; the hub test will be skipped"; fi

# MathJax and reveal.js, from the npm registry, into .venv/node: decks (cvcourse slides) and the website inline or copy
# them, so neither loads anything from a CDN (cvcourse_utils/webassets.py finds them there).
# Optional: without npm the deck and website tests are skipped and say why.
WEB_BIN := $(VENV)/node/node_modules/reveal.js/dist/reveal.js
web:
	@if [ -f $(WEB_BIN) ] && [ -f $(VENV)/node/node_modules/mathjax/es5/tex-svg.js ]; then :; \
	elif command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --prefix $(VENV)/node "mathjax@^3.2" "reveal.js@^4.6" >/dev/null 2>&1 \
		&& echo "MathJax and reveal.js installed into $(VENV)/node" \
		|| echo "note: npm could not install MathJax and reveal.js; decks and the website cannot be built"; \
	else echo "note: npm is not installed, so neither are MathJax and reveal.js; decks and the website cannot be built"; fi

# The course website into site/_build/html: every lecture executed (fast mode, cached), its deck, its lab.
# SITE_ARGS: e.g. "--only 01 06", "--full", "--clean" (see cvcourse site --help).
site: setup
	OMP_NUM_THREADS=1 $(BIN)/cvcourse site $(SITE_ARGS)

labs: setup
	$(BIN)/cvcourse labs

lint: setup
	$(BIN)/cvcourse lint

# Every test of one module, e.g.  make module N=05 : the lint, its lecture and solution under nbval,
# the repository tests for its notebooks, the course-wide tests, and the grader's self-test.
module: setup
	@test -n "$(N)" || { echo "usage: make module N=05"; exit 2; }
	$(BIN)/cvcourse labs --check
	$(BIN)/cvcourse lint lab$(N)
	CVCOURSE_FAST=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env \
		lectures/$(N)_*.ipynb solutions/lab$(N)_*.ipynb tests/test_repository.py tests/test_lint.py \
		-k "$(N)_ or lab$(N) or not ipynb" --deselect tests/test_lint.py::test_a_scaffolded_module_passes_the_tests_as_it_is
	CVCOURSE_FAST=1 OMP_NUM_THREADS=1 $(BIN)/cvcourse grade lab$(N) --self-test

benchmarks: setup
	$(BIN)/python benchmarks/run_all.py

# On a machine with a CUDA GPU: every module's GPU path in full mode, bars and speed-ups into benchmarks/RESULTS.md.
gpu-check: setup
	$(BIN)/python -m benchmarks.gpu_check $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV)
