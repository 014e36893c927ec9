# Nimbus: the two commands are `make up` (run the cloud) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Two pytest-xdist workers, one a core: the tests of real components run one at a time in
# one of them (one unit of work, see tests/conftest.py) while the other takes those over
# fakes. `make test PARALLEL=` runs everything in one process.
PARALLEL ?= -n 2
# The unit, API and workflow suites run on each database named here, the others on the
# first (tests/conftest.py): a PostgreSQL server is started for the tests.
TEST_DATABASES ?= sqlite,postgresql

.PHONY: up down status test test-unit test-pg crash-matrix fuzz lint bench install clean

up: install
	$(BIN)/nimbus up

down:
	$(BIN)/nimbus down

status:
	$(BIN)/nimbus status

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install-system-packages scripts/link-ceph-python
	scripts/install-system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	scripts/link-ceph-python $(VENV)
	touch $(STAMP)

# Every test's time is kept in build/test-report.xml (JUnit XML) for a look at where the
# suite's time goes; the slowest 40 are printed.
test: install
	$(BIN)/ruff check .
	$(BIN)/mypy nimbus launcher api workflows activities observability paas dashboard
	NIMBUS_TEST_DATABASE=$(TEST_DATABASES) \
		$(BIN)/pytest -q -p no:cacheprovider --durations=40 --junitxml=build/test-report.xml \
		$(PARALLEL)

test-unit: install
	$(BIN)/pytest -q $(PARALLEL) tests/unit tests/workflows tests/api

# The fast suites with every test's database on a throw-away PostgreSQL server
# (tests/support/postgres.py) instead of a SQLite file: what `make test` adds to them.
test-pg: install
	NIMBUS_TEST_DATABASE=postgresql $(BIN)/pytest -q -p no:cacheprovider $(PARALLEL) \
		tests/unit tests/workflows tests/api

# The whole crash campaign: the matrix over fakes with every boundary crashed before its
# step too (CI crashes one in eight), on both databases, then every end-to-end crash test
# on the real components, the long ones included. It prints its figures at the end.
crash-matrix: install
	NIMBUS_CRASH_SAMPLE=1 NIMBUS_LONG=1 NIMBUS_TEST_DATABASE=$(TEST_DATABASES) \
		$(BIN)/pytest -q -p no:cacheprovider $(PARALLEL) tests/workflows/test_crash_matrix.py \
		tests/workflows/test_moves.py tests/e2e/test_crash_recovery.py \
		tests/e2e/test_crash_storage.py tests/e2e/test_paas_crash.py \
		tests/e2e/test_component_restarts.py tests/integration/test_rbd_killed_clone.py

# The long fuzzing campaign: every operation of /openapi.json, FUZZ_EXAMPLES requests per
# operation and role (CI sends 2), on both databases; FUZZ_SEED draws other requests. It
# prints its figures at the end.
FUZZ_EXAMPLES ?= 25
FUZZ_SEED ?= 0
fuzz: install
	NIMBUS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) NIMBUS_FUZZ_SEED=$(FUZZ_SEED) \
		NIMBUS_TEST_DATABASE=$(TEST_DATABASES) \
		$(BIN)/pytest -q -p no:cacheprovider $(PARALLEL) tests/api/test_fuzz_api.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy nimbus launcher api workflows activities observability paas dashboard

bench: install
	$(BIN)/python benchmarks/boot.py

clean: down
	rm -rf $(VENV)
