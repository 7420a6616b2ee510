# The two commands of the README: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# Strict editable mode installs a link tree that mypy and editors can follow (the default editable
# install uses an import hook they cannot read). A new module needs `make install` again.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]' --config-settings editable_mode=strict
	touch $@

.PHONY: install demo test test-unit check docs site screenshots bench
install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/ramp demo

# Two processes, each taking a whole test file at a time (a file's tests share its fixtures and state).
test: $(BIN)/.installed
	$(BIN)/python -m pytest -n 2 --dist loadfile

test-unit: $(BIN)/.installed
	$(BIN)/python -m pytest tests/unit

check: $(BIN)/.installed
	$(BIN)/ruff check config producers worker tests bench
	$(BIN)/mypy -p ses_ramp.config -p ses_ramp.producers -p ses_ramp.worker

# The README's images, made by the commands they illustrate.
screenshots: $(BIN)/.installed
	RAMP_DOCS_SCREENSHOTS=1 $(BIN)/python -m pytest -q -p no:xdist tests/integration/test_dashboard.py -k phone

site: $(BIN)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs: $(BIN)/.installed
	mkdir -p docs
	$(BIN)/ramp schedule --plot docs/schedule.png > /dev/null
	$(BIN)/ramp simulate --plot docs/simulate.png > /dev/null
	$(BIN)/ramp simulate --dirty-list-day 3 --plot docs/simulate-dirty-day3.png > /dev/null
	$(BIN)/ramp simulate --overflow --plot docs/simulate-overflow.png > /dev/null

bench: $(BIN)/.installed
	$(BIN)/python -m bench
