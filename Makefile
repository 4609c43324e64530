# dapgo: the two commands a newcomer needs are `make run` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
LISTEN ?= :4711

.PHONY: setup run test lint unit e2e bench clean

include editors/Makefile.inc

setup:
	@bash scripts/setup.sh

run: setup
	$(VENV)/bin/dapgo --listen $(LISTEN)

lint: setup
	$(VENV)/bin/ruff check dapgo tests bench
	$(VENV)/bin/mypy

# The whole suite: lint and types, the .vsix package, every pytest test (unit, end to end,
# editors: the real nvim-dap in headless Neovim and the real VS Code, code-server in
# chromium, with that .vsix installed), the VS Code extension's mocha suite against the real
# dapgo. Real-editor screenshots: build/editor-artefacts/.
test: setup lint vsix
	$(VENV)/bin/pytest -q -p no:cacheprovider
	cd $(VSCODE_DIR) && DAPGO=$(EDITORS_DAPGO) npm test

# adapter_startup exits non-zero when it misses its target: it runs last, so a miss hides
# no other benchmark's figures.
# Delve (Debian's 1.20.2) is the reference the benchmarks measure against, never a runtime
# or test dependency: installed here, for the bench only, where it is missing.
bench: setup
	@command -v dlv >/dev/null || { [ "$$(id -u)" -eq 0 ] && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends delve >/dev/null; } || \
	  echo "[bench] Delve is not installed: no Delve rows"
	$(PY) bench/startup.py
	$(PY) bench/goroutines.py
	$(PY) bench/watch_overhead.py
	$(PY) bench/trace_overhead.py
	$(PY) bench/values.py
	$(PY) bench/calls.py
	$(PY) bench/metric_overhead.py
	$(PY) bench/core.py
	$(PY) bench/attach_pause.py
	$(PY) bench/adapter_startup.py

clean:
	rm -rf $(VENV) .cache build *.egg-info
