# Two entry points (see README): `make demo` runs the nightly pipeline on the demo world,
# `make test` runs the test suite. Both install the pinned environment into .venv first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test install

install: $(STAMP)

$(STAMP): setup.py constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt --config-settings editable_mode=compat -e '.[test,deploy]'
	# the build's leftover metadata: beside the installed copy, Airflow would find our plugin twice
	rm -rf generec.egg-info
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/generec demo

# Two workers (pytest-xdist): the suite waits on JVMs, schedulers and servers about half the time (measured serially:
# 0.53 of a core busy on average). A module's tests stay on one worker (--dist loadfile; tests/xdist_scheduling.py),
# so each module-scoped fixture runs once. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile
