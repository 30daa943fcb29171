# facever developer entry points. `make test` and `make serve` work on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# the embedder `make serve` uses: EMBEDDER=NAME on the command line, else FACEVER_EMBEDDER, else the default
EMBEDDER ?= $(or $(FACEVER_EMBEDDER),resnet20q-kd-cosface-rf-iam)

.PHONY: install install-dev test serve models placeholder-model bench clean

# The service alone: no torch.
$(VENV)/.service: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

# Service + training (with the distillation teacher) + test tools. facenet-pytorch pins torch 2.2, so it goes
# in without its deps (we only use its MTCNN weights and, in tests, its reference cascade).
$(VENV)/.dev: $(VENV)/.service
	$(PY) -m pip install -q -e '.[train,distill,dev]'
	$(PY) -m pip install -q --no-deps facenet-pytorch==2.6.0
	touch $@

install: $(VENV)/.service
install-dev: $(VENV)/.dev

test: $(VENV)/.dev
	$(PY) -m pytest -q

# A random-init full-width ResNet20, built locally (not shipped): tests and benchmarks use it where the
# paper-size graph or a torch twin of the ONNX weights matters; its similarities are meaningless.
models/resnet20-random/model.onnx: | $(VENV)/.dev
	$(PY) -m training.export.embedder --random --out models/resnet20-random --seed 0

placeholder-model: models/resnet20-random/model.onnx

# The embedded default: SQLite in data/, in-process FAISS, the models in models/ (or FACEVER_MODELS_DIR).
# HOST and PORT choose where it listens.
serve: $(VENV)/.service $(or $(FACEVER_MODELS_DIR),models)/$(EMBEDDER)/model.onnx
	FACEVER_EMBEDDER=$(EMBEDDER) $(VENV)/bin/facever serve --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

# Regenerate the committed MTCNN ONNX files from the weights inside the facenet-pytorch wheel.
models: $(VENV)/.dev
	$(PY) -m training.export.mtcnn --out models/detector

bench: $(VENV)/.dev
	$(PY) benchmarks/pipeline_stages.py

clean:
	rm -rf $(VENV) .pytest_cache

# dlib's face_recognition side by side on LFW pairs (benchmarks/peer_dlib.py). Not a facever dependency:
# the prebuilt dlib wheel + its models, then face-recognition without its deps (they pin a source dlib).
PAIRS_PER_FOLD ?= 300
.PHONY: bench-peer
bench-peer: $(VENV)/.dev
	$(PY) -m pip install -q dlib-bin face-recognition-models "setuptools<81"  # its models load via pkg_resources
	$(PY) -m pip install -q --no-deps face-recognition
	$(PY) benchmarks/peer_dlib.py --pairs-per-fold $(PAIRS_PER_FOLD)
