# Conduit — `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
# The RealWorld spec and official Bruno suite, outside this repository (README: "The RealWorld
# spec and the official suite"); only `make conformance` needs them.
REALWORLD_DIR ?= ../shared/realworld
BRUNO_DIR ?= $(REALWORLD_DIR)/bruno
CONFORMANCE_PORT ?= 8765
CONFORMANCE_BACKENDS ?= sqlite,postgresql,mariadb,services,handler,pgbouncer
PYTEST_ARGS ?=

.PHONY: help
help: ## List every target
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(UV):
	@$(PYTHON) -m venv .tools && .tools/bin/pip install --quiet --disable-pip-version-check uv

# Bytecode is compiled once here, so that a start never compiles (where PYTHONDONTWRITEBYTECODE
# is set, every start would otherwise compile every module again: seconds on each start).
.venv/.synced: pyproject.toml uv.lock | $(UV)
	@$(UV) sync --frozen --quiet --compile-bytecode
	@.venv/bin/python -m compileall -q src >/dev/null
	@touch $@

# GraphiQL's scripts (npm packages pinned by web/graphiql/package-lock.json, git-ignored
# node_modules), which Conduit serves at /static/graphiql. Without npm everything else works
# (/docs's Swagger UI comes from a Python package) and GET /graphql in a browser says how to
# install them.
web/graphiql/node_modules/.installed: web/graphiql/package.json web/graphiql/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix web/graphiql --no-audit --no-fund --ignore-scripts --loglevel=error && touch $@; \
	else \
	  echo "npm not found: GraphiQL's scripts are not installed (GET /graphql in a browser says how); the API and /docs work without them."; \
	fi

.PHONY: install
install: .venv/.synced web/graphiql/node_modules/.installed ## Create .venv with every dependency (locked), and GraphiQL's scripts when npm is there

.PHONY: run
run: install ## Serve the web app (http://127.0.0.1:8000/) and the API (/api) on SQLite (data/conduit.db)
	$(UV) run --frozen conduit serve --host $(HOST) --port $(PORT)

# The tests mostly wait (on the databases, on the servers they start), so `make test` spreads
# them over more xdist workers than there are cores (4 measured best on 2 cores: 6 spent
# more on their start-up than they gained). Then the fault tests, which stop or restart the
# machine's PostgreSQL, MariaDB and RabbitMQ, run on their own (tests/conftest.py keeps them
# out of a parallel run). Either phase failing fails the target; "no tests collected" (exit 5) counts
# only when neither phase collected any.
TEST_WORKERS ?= 4
TEST_FAST_WORKERS ?= 3
# Unset PYTHONDONTWRITEBYTECODE for the tests: pytest keeps its assertion-rewritten modules
# (test modules, plugins) in __pycache__ instead of rewriting ~450 modules in each worker.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(UV) run --frozen pytest

.PHONY: test
test: install ## Run the whole test suite (SQLite, PostgreSQL, MariaDB) on TEST_WORKERS workers, then the fault tests alone
	@set -u; \
	echo "$(PYTEST) -n $(TEST_WORKERS) $(PYTEST_ARGS)"; \
	$(PYTEST) -n $(TEST_WORKERS) $(PYTEST_ARGS); parallel=$$?; \
	echo "$(PYTEST) --faults-only $(PYTEST_ARGS) -n 0"; \
	$(PYTEST) --faults-only $(PYTEST_ARGS) -n 0; faults=$$?; \
	for status in $$parallel $$faults; do \
	  if [ $$status -ne 0 ] && [ $$status -ne 5 ]; then exit $$status; fi; \
	done; \
	if [ $$parallel -eq 5 ] && [ $$faults -eq 5 ]; then exit 5; fi

# The inner loop: SQLite only, without the tests marked slow (servers and processes of their
# own, deliberate waits: tests/conftest.py SLOW_MODULES) or faults, and without the OWASP API
# Top 10 suite (tests/security: the API's guarantees again, end to end), which make test runs.
.PHONY: test-fast
test-fast: install ## The inner loop, under a minute: SQLite only, without the slow, fault and OWASP tests
	CONDUIT_TEST_BACKENDS=sqlite $(PYTEST) -n $(TEST_FAST_WORKERS) -m "not slow and not faults" \
	  --ignore=tests/security $(PYTEST_ARGS)

.PHONY: test-sqlite
test-sqlite: install ## Run the test suite on SQLite only (no service needed), on TEST_WORKERS workers
	CONDUIT_TEST_BACKENDS=sqlite $(PYTEST) -n $(TEST_WORKERS) $(PYTEST_ARGS)

.PHONY: lint
lint: install ## ruff (lint + format check), mypy strict, import-linter
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(UV) run --frozen lint-imports

.PHONY: format
format: install ## Format and autofix with ruff
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

.PHONY: conformance
conformance: install ## Official RealWorld suite (Bruno): SQLite, PostgreSQL, MariaDB, with Redis + RabbitMQ + worker, and with FastAPI's own handler on every route
	$(UV) run --frozen python scripts/conformance.py --bruno-dir $(BRUNO_DIR) --port $(CONFORMANCE_PORT) --backends $(CONFORMANCE_BACKENDS)

# The browser specs of the RealWorld project (REALWORLD_DIR/e2e, Playwright) against the web
# app on a conduit serve on SQLite, in fullstack mode: tests/browser/test_realworld_specs.py.
.PHONY: e2e
e2e: install ## The RealWorld project's browser specs against the web app, fullstack mode
	REALWORLD_DIR=$(REALWORLD_DIR) $(PYTEST) tests/browser/test_realworld_specs.py -s $(PYTEST_ARGS)

.PHONY: openapi
openapi: install ## Write the generated OpenAPI document to openapi.json
	$(UV) run --frozen conduit openapi --output openapi.json

.PHONY: graphql-schema
graphql-schema: install ## Write the GraphQL schema generated from the code to schema.graphql
	$(UV) run --frozen conduit graphql schema --output schema.graphql

.PHONY: asyncapi
asyncapi: install ## Write the generated AsyncAPI event catalogue to asyncapi.json
	$(UV) run --frozen conduit events catalogue --output asyncapi.json

# The web app in the system's Chromium (tests/browser/flows: Playwright pinned by its lock file,
# no browser download), with JavaScript on and off; CONDUIT_CHROMIUM names another Chromium.
.PHONY: web-flows
web-flows: install ## The web app's browser tests: reader flows, CSRF, console, XSS payloads, axe-core (JavaScript on and off)
	$(PYTEST) tests/browser/test_web_flows.py -s -p no:cacheprovider $(PYTEST_ARGS)

.PHONY: screenshots
screenshots: install ## Redraw the README's pictures of the web app (docs/images/web-home.png, web-console.png) from a seeded server
	$(UV) run --frozen python scripts/screenshots.py

.PHONY: seed
seed: install ## Fill the configured database with demo data
	$(UV) run --frozen conduit seed

.PHONY: bench
bench: install ## Benchmark on PostgreSQL with wrk (seeds 1,000 users / 10,000 articles)
	$(UV) run --frozen python bench/run.py

.PHONY: scaling-simulation
scaling-simulation: install ## The feed fan-out model of docs/scaling.md: prints its tables, redraws docs/scaling-feed-fanout.svg
	$(UV) run --frozen python bench/feed_fanout.py

.PHONY: bench-pgbouncer
bench-pgbouncer: install ## Conduit through a private pgbouncer (transaction pooling) beside direct on PostgreSQL, taking turns (wrk)
	$(UV) run --frozen python bench/pgbouncer.py

.PHONY: bench-idle
bench-idle: install ## Idle statements per conduit serve instance, polling vs wake-ups (private PostgreSQL, pg_stat_statements)
	$(UV) run --frozen python bench/idle_queries.py

.PHONY: bench-metrics
bench-metrics: install ## What the Prometheus metrics cost: req/s with them on and off, alternated (PostgreSQL, wrk)
	$(UV) run --frozen python bench/metrics_cost.py

.PHONY: bench-cache
bench-cache: install ## The response cache on Redis and on Memcached: cached reads against no cache, servers taking turns (PostgreSQL, wrk)
	$(UV) run --frozen python bench/cache_backends.py $(BENCH_CACHE_ARGS)

.PHONY: bench-servers
bench-servers: install ## Conduit under uvicorn (conduit serve) and under Granian in each runtime mode and loop, taking turns (PostgreSQL, wrk)
	$(UV) run --frozen python bench/server_compare.py $(BENCH_SERVERS_ARGS)

# Load tests (loadtest/, docs/operating/load-tests.md). LOADTEST_HOST: a running Conduit to
# load; unset, `make loadtest` starts a production-like conduit serve on a fresh SQLite file.
LOADTEST_HOST ?=
LOADTEST_USERS ?= 50
LOADTEST_SPAWN_RATE ?= 5
LOADTEST_DURATION ?= 60s
SOAK_ARGS ?=

.PHONY: loadtest
loadtest: install ## Locust: the realistic mix (LOADTEST_USERS, LOADTEST_DURATION) against LOADTEST_HOST or a server it starts on SQLite, then loadtest/thresholds.toml
	$(UV) run --frozen python -m loadtest.run --users $(LOADTEST_USERS) \
	  --spawn-rate $(LOADTEST_SPAWN_RATE) --duration $(LOADTEST_DURATION) \
	  $(if $(LOADTEST_HOST),--host $(LOADTEST_HOST),)

.PHONY: soak
soak: install ## 10 minutes of the mix against a conduit serve on PostgreSQL it starts: memory and latency drift report in loadtest/results/
	$(UV) run --frozen python -m loadtest.soak $(SOAK_ARGS)

.PHONY: clean
clean: ## Remove the environment, caches and the embedded database
	rm -rf .venv .tools .mypy_cache .ruff_cache .pytest_cache data
