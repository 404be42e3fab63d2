# yikatong — two commands: `make run` (demo on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LINES  ?= 20000
SEED   ?= 20260101
HOST   ?= 127.0.0.1
PORT   ?= 8000
DEMO_ENV := YIKATONG_DEMO=1

.PHONY: install run demo index serve admin test lint bench bench-steps clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## make run: install, build demo data (LINES=…), index it, serve the portal on :8000 and admin on :8001
run: install demo index
	$(DEMO_ENV) $(BIN)/yikatong serve --host $(HOST) --port $(PORT) --with-admin

demo: install
	$(DEMO_ENV) $(BIN)/yikatong demo --lines $(LINES) --seed $(SEED) --if-changed

index: install
	$(DEMO_ENV) $(BIN)/yikatong index rebuild

serve: install
	$(DEMO_ENV) $(BIN)/yikatong serve --host $(HOST) --port $(PORT)

admin: install
	$(DEMO_ENV) $(BIN)/yikatong admin serve

## make test: import contracts + the whole suite on every leg this machine serves (scripts/test):
## SQLite, PostgreSQL when a server answers, Redis, the browser. Installs the system packages as root
## (scripts/test-deps); SKIP_BROWSER=1 runs without them; PYTEST_ARGS=… goes to pytest.
test: install lint
	SKIP_BROWSER=$(SKIP_BROWSER) $(BIN)/python scripts/test $(PYTEST_ARGS)

lint: install
	$(BIN)/lint-imports

## make bench: capacity of the public side beside a hello-world, 1 and 2 workers, wrk (writes docs/benchmarks.md)
##   default 1,000,000 demo lines, 15 s per target; quick: make bench LINES=100000 DURATION=5
BENCH_LINES := $(if $(filter command line environment,$(origin LINES)),$(LINES),1000000)
DURATION ?= 15
CONNECTIONS ?= 50
bench: install
	$(BIN)/python loadtests/capacity.py --lines $(BENCH_LINES) --duration $(DURATION) --connections $(CONNECTIONS)

## make bench-steps: demo build rate, index rebuild, roster check, search latency per query class, locust
bench-steps: install
	$(BIN)/python loadtests/bench.py

clean:
	rm -rf $(VENV) data .pytest_cache
