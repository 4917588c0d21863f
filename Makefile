# Two commands a newcomer needs: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo lint test bench fuzz clean

install: $(STAMP)

$(STAMP): pyproject.toml pipelines/segment.py pipelines/wordtable.py  # the snapshot format lives in these
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(BIN)/python -m pipelines.segment  # jieba's dictionaries as one snapshot in .venv/share, which workers load fast
	$(BIN)/python -m compileall -q crawler pipelines  # bytecode once, also where PYTHONDONTWRITEBYTECODE is set
	@touch $(STAMP)

demo: install
	$(BIN)/python -m tests.demo

lint: install  # configured in pyproject.toml ([tool.ruff], [tool.mypy]); both pinned in the test extra
	$(BIN)/ruff check crawler pipelines tests
	$(BIN)/mypy crawler pipelines

test: lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m compileall -q crawler pipelines  # as an installed package would be: no compiling at each start
	$(BIN)/python -m tests.bench

FUZZ_SECONDS ?= 300
fuzz: install  # mutated article pages through the pipeline; exit 1 on the first finding (make fuzz FUZZ_SECONDS=3600)
	$(BIN)/python -m tests.fuzz --seconds $(FUZZ_SECONDS) --save output/fuzz-finding

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
