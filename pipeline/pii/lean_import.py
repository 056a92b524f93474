"""Import presidio without the transformers and torch it does not need here.

presidio_analyzer imports transformers at import time when it is installed (for its optional
transformers NLP engine), and spaCy's thinc imports torch when it is installed; together that
costs seconds (tens on a busy machine) in every process that scrubs, worker processes included.
The PII stage runs spaCy's own (numpy) NER models on the CPU, so presidio is imported with both
hidden, which it and thinc treat as not installed, and gets its documented
`PRESIDIO_DEVICE=cpu` unless set. A process that already imported either (training) is left
alone, and both import normally afterwards.
"""

from __future__ import annotations

import os
import sys

HIDDEN = {"torch", "transformers"}


def import_presidio_lean() -> None:
    if "presidio_analyzer" in sys.modules:
        return
    os.environ.setdefault("PRESIDIO_DEVICE", "cpu")
    if HIDDEN & sys.modules.keys():
        return
    for name in HIDDEN:
        sys.modules[name] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        import presidio_analyzer  # noqa: F401
    finally:
        for name in HIDDEN:
            del sys.modules[name]
