# Two commands do all set-up: `make demo` and `make test` (each builds .venv first).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
GUIDELINE := guidelines/her2_mbc.hgl
export HGL_CACHE_DIR ?= $(CURDIR)/.hgl-cache

.PHONY: env demo test test-fast bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

env: $(STAMP)

demo: env
	@echo "== check"
	$(BIN)/hgl check $(GUIDELINE)
	@echo "== compile"
	$(BIN)/hgl build $(GUIDELINE) -o build/guidelines
	@echo "== the guideline's own cases and the public vignettes"
	$(BIN)/hgl test $(GUIDELINE) --cases guidelines/her2_mbc.cases.yaml --cases ../shared/clinical/vignettes.yaml --coverage
	@echo "== sample cases, one per scenario"
	@for f in guidelines/examples/*.yaml; do \
	  echo; echo "---- $$f"; $(BIN)/hgl run $(GUIDELINE) --case $$f || exit 1; done
	@echo
	@echo "== documentation site"
	$(BIN)/hgl docs

test: env
	$(BIN)/hgl test $(GUIDELINE) --cases guidelines/her2_mbc.cases.yaml --cases ../shared/clinical/vignettes.yaml --coverage --require-coverage
	@$(BIN)/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure"; exit 1; fi; exit $$rc

test-fast: env
	$(BIN)/pytest -m "not browser"

bench: env
	$(BIN)/python bench/compile.py
	$(BIN)/python bench/runtime.py

clean:
	rm -rf build .hgl-cache site/build site/docs .pytest_cache
