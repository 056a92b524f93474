#!/usr/bin/env bash
# Everything training needs a GPU for, in one call (about 10 minutes on one H100):
# the CUDA-only block test (compiled bf16 step against LlamaForCausalLM), then the throughput
# of our blocks against transformers' Llama at 124m and 1b. Record the output, with the card's
# name (printed first), in README.md and docs/training.md.
set -euo pipefail
PY=${PYTHON:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -m pytest -q tests/test_train_blocks.py
"$PY" benchmarks/train_throughput.py --preset 124m --compare-hf
"$PY" benchmarks/train_throughput.py --preset 1b --compare-hf
