# Two commands do everything on a fresh machine:
#   make run    install, migrate, seed the demo world, serve portal + API + Celery worker
#   make test   install, run the whole suite (real PostgreSQL/Redis when reachable)
# and for the people who change the code: make lint, make fmt, make typecheck.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.txt | cut -c1-16)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv migrate seed serve clean lint fmt typecheck check fuzz

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

migrate: venv
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	$(PY) scripts/run_embedded.py --host $(HOST) --port $(PORT)

test: venv
	$(PY) scripts/test.py $(ARGS)

# schemathesis against gunicorn, as every actor; fails on any 5xx or off-schema answer.
fuzz: venv
	$(PY) scripts/fuzz.py

# The floor plan (tools/import_contract.py), ruff's rules and its formatting.
lint: venv
	$(PY) tools/import_contract.py
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# mypy with the Django and DRF plugins, against mypy-baseline.json (it only goes down).
typecheck: venv
	$(PY) scripts/typecheck.py $(ARGS)

check: lint typecheck test

clean:
	rm -rf var
