# Two commands do everything on a fresh machine: `make run` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run index serve test bench bench-multihop clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	@command -v chromium >/dev/null 2>&1 || command -v /usr/bin/chromium >/dev/null 2>&1 || \
	  { echo "installing chromium for the browser tests (apt-get)"; \
	    (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	    echo "warning: could not install chromium; the browser tests will be skipped"; }
	touch $(STAMP)

index: install
	$(VENV)/bin/rag index

run: index
	$(VENV)/bin/rag serve

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) bench/bench_core.py

bench-multihop: install
	$(PY) bench/bench_multihop.py

.PHONY: soak-web
soak-web: install
	$(PY) bench/soak_web.py

clean:
	rm -rf $(VENV) vectorstore/CURRENT vectorstore/gen-* vectorstore/.tmp-gen-* vectorstore/.lock
