# dapgo: the two commands a newcomer needs are `make run` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
LISTEN ?= :4711

.PHONY: setup run test lint unit e2e bench clean

setup:
	@bash scripts/setup.sh

run: setup
	$(VENV)/bin/dapgo --listen $(LISTEN)

lint: setup
	$(VENV)/bin/ruff check dapgo tests bench
	$(VENV)/bin/mypy

test: setup lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

bench: setup
	$(PY) bench/startup.py

clean:
	rm -rf $(VENV) .cache build *.egg-info
