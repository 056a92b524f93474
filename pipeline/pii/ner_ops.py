"""NER's matrix products on the faster of this CPU's two BLAS libraries, one thread each.

thinc multiplies through blis, which on some CPUs runs a generic kernel, far slower on the
shapes of NER's tok2vec than numpy's OpenBLAS, and those products are a large part of full-mode
time (docs/pii.md, "Measurements behind the code"). Which library wins depends on the CPU, so
each process times both once on a product of that shape (a few milliseconds) and
switches the model's layers to the winner; both give the same products up to float rounding.

BLAS gets one thread: the stage runs one worker process per core, so more threads would only
oversubscribe the cores (and would make a one-core measurement use two).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache

import numpy as np
from thinc.api import Model, NumpyOps
from threadpoolctl import threadpool_limits

# A batch of tokens x (3-token window x width 96) x (width 96 x 3 maxout pieces): the CNN layers
# of en_core_web_sm's NER tok2vec; wider models only favour the faster library more.
_PROBE_SHAPE = (1024, 288, 288)
_MARGIN = 0.8  # switch only for a clear win: timing noise must not flip the choice


def _best_seconds(product: Callable[[], object], repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - start)
    return best


@cache
def fastest_cpu_ops() -> NumpyOps:
    threadpool_limits(limits=1, user_api="blas")
    rows, inner, cols = _PROBE_SHAPE
    rng = np.random.default_rng(0)
    a = rng.random((rows, inner), dtype=np.float32)
    b = rng.random((inner, cols), dtype=np.float32)
    with_blis, with_numpy = NumpyOps(), NumpyOps(use_blis=False)
    with_blis.gemm(a, b), with_numpy.gemm(a, b)  # first calls load and size their kernels
    blis_s = _best_seconds(lambda: with_blis.gemm(a, b))
    numpy_s = _best_seconds(lambda: with_numpy.gemm(a, b))
    return with_numpy if numpy_s < _MARGIN * blis_s else with_blis


def use_fastest_ops(model: Model) -> NumpyOps:
    """Point every layer of `model` at the faster BLAS; returns the ops chosen."""
    ops = fastest_cpu_ops()
    for node in model.walk():
        node.ops = ops
    return ops
