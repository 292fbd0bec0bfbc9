# Two commands do everything on a fresh machine: `make run` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
SCALE   := $(VENV)/.installed-scale
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-scale run index serve test bench bench-multihop bench-answers train-reader bench-formats bench-scale soak clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,train]'
	@# export the model to ONNX now (about 10 s), so that the first question does not wait for it
	$(PY) -c "from rag import Settings, embedder_for; embedder_for(Settings())"
	@command -v chromium >/dev/null 2>&1 || command -v /usr/bin/chromium >/dev/null 2>&1 || \
	  { echo "installing chromium for the browser tests (apt-get)"; \
	    (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	    echo "warning: could not install chromium; the browser tests will be skipped"; }
	touch $(STAMP)

# PostgreSQL + pgvector and Ray (the scale extra) with pgserver for their tests; `make run` does without them
install-scale: $(SCALE)

$(SCALE): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e '.[test,test-scale]'
	touch $(SCALE)

index: install
	$(VENV)/bin/rag index

run: index
	$(VENV)/bin/rag serve

test: install $(SCALE)
	$(PY) -m pytest -q

bench: install
	$(PY) bench/bench_core.py

bench-multihop: install
	$(PY) bench/bench_multihop.py

bench-answers: install
	$(PY) bench/bench_answers.py
	$(PY) bench/bench_answers.py --seeds

# Refit rag/models/reader.json from MultiHop-RAG (fit/dev splits; see the script's docstring).
train-reader: install
	$(PY) bench/train_reader.py

bench-formats: install
	$(PY) bench/bench_formats.py --rss

# PostgreSQL against FAISS on MultiHop-RAG, filtered vector search at 200k vectors, Ray against local embedding
bench-scale: install $(SCALE)
	$(PY) bench/bench_scale.py

# bad input through every door, SIGKILLs of rag index and rag serve; not part of `make test` (about 6 minutes)
soak: install
	$(PY) bench/soak.py

.PHONY: soak-web
soak-web: install
	$(PY) bench/soak_web.py

clean:
	rm -rf $(VENV) vectorstore/CURRENT vectorstore/gen-* vectorstore/.tmp-gen-* vectorstore/.lock
