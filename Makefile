# Two commands do everything on a fresh machine:
#   make run    install, migrate, seed the demo world, serve portal + API + Celery worker
#   make test   install, run the whole suite (real PostgreSQL/Redis when reachable)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.txt | cut -c1-16)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv migrate seed serve clean

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

clean:
	rm -rf var
