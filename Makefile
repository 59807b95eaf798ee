# Two commands do all set-up: `make demo` and `make test` (each builds .venv first).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
GUIDELINE := guidelines/her2_mbc.hgl
# every other shipped guideline; each has its cases beside it (guidelines/<id>.cases.yaml)
MORE_GUIDELINES := $(filter-out $(GUIDELINE),$(sort $(wildcard guidelines/*.hgl)))
export HGL_CACHE_DIR ?= $(CURDIR)/.hgl-cache
# The clinical specification and public vignettes live outside this repository, in ../shared
# beside the clone.  Without them `make demo` skips the vignette steps (with a notice) and
# `make test` stops with a message: the tests check the guideline against them.
SHARED := ../shared/clinical
VIGNETTES := $(SHARED)/vignettes.yaml
HAVE_SHARED := $(and $(wildcard $(SHARED)/SPEC.md),$(wildcard $(VIGNETTES)))
define NO_SHARED
$(SHARED)/SPEC.md and $(VIGNETTES) were not found.
  They are the clinical specification the HER2 guideline encodes and its public vignettes;
  they are not part of this repository. Put the project's shared/ folder beside this clone,
  so that ../shared/clinical/SPEC.md and ../shared/clinical/vignettes.yaml exist.
endef
export NO_SHARED

.PHONY: env demo test test-fast bench fuzz clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

env: $(STAMP)

demo: env
	@$(if $(HAVE_SHARED),true,echo; echo "NOTE: $$NO_SHARED"; echo "  This demo runs without them: the vignette steps are skipped."; echo)
	@echo "== check"
	$(BIN)/hgl check $(GUIDELINE)
	@echo "== compile"
	$(BIN)/hgl build $(GUIDELINE) -o build/guidelines
	@echo "== the guideline's own cases$(if $(HAVE_SHARED), and the public vignettes, (public vignettes skipped: $(VIGNETTES) not found))"
	$(BIN)/hgl test $(GUIDELINE) --cases guidelines/her2_mbc.cases.yaml $(if $(HAVE_SHARED),--cases $(VIGNETTES)) --coverage
	@for g in $(MORE_GUIDELINES); do \
	  echo; echo "== $$g: check and its own cases"; \
	  $(BIN)/hgl check $$g && $(BIN)/hgl test $$g --cases $${g%.hgl}.cases.yaml --coverage || exit 1; done
	@echo "== sample cases, one per scenario"
	@for f in guidelines/examples/*.yaml; do \
	  echo; echo "---- $$f"; $(BIN)/hgl run $(GUIDELINE) --case $$f || exit 1; done
	@echo
	@echo "== a batch: the 200 sample patients of guidelines/examples, one CSV row each"
	$(BIN)/hgl run $(GUIDELINE) --cases guidelines/examples/her2_mbc_cohort.jsonl -o build/results.csv --no-progress
	@echo "== documentation site$(if $(HAVE_SHARED),, (worked cases without the public vignettes: $(VIGNETTES) not found))"
	$(BIN)/hgl docs --previous her2_mbc=guidelines/examples/her2_mbc.previous.hgl $(if $(HAVE_SHARED),--cases her2_mbc=$(VIGNETTES))
	@echo "== a synthetic cohort of 10,000 patients, its results and concordance page"; mkdir -p build && $(BIN)/python guidelines/her2_mbc_cohort.py -n 10000 -o build/cohort.parquet && $(BIN)/hgl cohort $(GUIDELINE) --input build/cohort.parquet -o build/cohort.results.parquet --concordance treatment_started --report build/cohort-report

test: env
	@$(if $(HAVE_SHARED),true,echo "make test: $$NO_SHARED" >&2; exit 2)
	$(BIN)/hgl test $(GUIDELINE) --cases guidelines/her2_mbc.cases.yaml --cases $(VIGNETTES) --coverage --require-coverage
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
