# Two commands do all set-up: `make demo` and `make test` (each builds .venv first).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
GUIDELINE := guidelines/her2_mbc.hgl
# every other shipped guideline; each has its cases beside it (guidelines/<id>.cases.yaml)
MORE_GUIDELINES := $(filter-out $(GUIDELINE),$(sort $(wildcard guidelines/*.hgl)))
export HGL_CACHE_DIR ?= $(CURDIR)/.hgl-cache

.PHONY: env demo test test-fast bench fuzz clean

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
	@for g in $(MORE_GUIDELINES); do \
	  echo; echo "== $$g: check and its own cases"; \
	  $(BIN)/hgl check $$g && $(BIN)/hgl test $$g --cases $${g%.hgl}.cases.yaml --coverage || exit 1; done
	@echo "== sample cases, one per scenario"
	@for f in guidelines/examples/*.yaml; do \
	  echo; echo "---- $$f"; $(BIN)/hgl run $(GUIDELINE) --case $$f || exit 1; done
	@echo
	@echo "== documentation site"
	$(BIN)/hgl docs --cases her2_mbc=../shared/clinical/vignettes.yaml
	@echo "== a synthetic cohort of 10,000 patients, its results and concordance page"; mkdir -p build && $(BIN)/python guidelines/her2_mbc_cohort.py -n 10000 -o build/cohort.parquet && $(BIN)/hgl cohort $(GUIDELINE) --input build/cohort.parquet -o build/cohort.results.parquet --concordance treatment_started --report build/cohort-report

test: env
	$(BIN)/hgl test $(GUIDELINE) --cases guidelines/her2_mbc.cases.yaml --cases ../shared/clinical/vignettes.yaml --coverage --require-coverage
	@for g in $(MORE_GUIDELINES); do \
	  echo "$(BIN)/hgl test $$g --cases $${g%.hgl}.cases.yaml --coverage --require-coverage"; \
	  $(BIN)/hgl test $$g --cases $${g%.hgl}.cases.yaml --coverage --require-coverage || exit 1; done
	@$(BIN)/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure"; exit 1; fi; exit $$rc

test-fast: env
	$(BIN)/pytest -m "not browser"

# fuzz targets (issue 15): FUZZ_SECONDS per target; coverage-guided when atheris is installed
# (pip install -e '.[fuzz]'), else hypothesis mutating fuzz/corpus.  `make test` runs them briefly.
FUZZ_SECONDS ?= 300
fuzz: env
	$(BIN)/python fuzz/run.py compile --seconds $(FUZZ_SECONDS)
	$(BIN)/python fuzz/run.py cases --seconds $(FUZZ_SECONDS)

bench: env
	$(BIN)/python bench/compile.py
	$(BIN)/python bench/runtime.py

clean:
	rm -rf build .hgl-cache site/build site/docs .pytest_cache
