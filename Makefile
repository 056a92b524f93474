# The two commands a user needs: `make demo` and `make test`. Both build the virtual
# environment first: CPU PyTorch (torch==2.13.0) before anything else, then the project.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.corpusforge-installed

.PHONY: demo test lint setup clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The sample corpus examples/pipeline.yaml reads (seeded: the same files on every machine).
sample/.complete: $(STAMP)
	$(BIN)/corpusforge sample sample > /dev/null
	touch sample/.complete

setup: $(STAMP) sample/.complete

demo: $(STAMP)
	$(BIN)/corpusforge demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python infra/ci/lint_imports.py    # lint-imports: the layers contract in pyproject.toml

clean:
	rm -rf $(VENV) .corpusforge sample
