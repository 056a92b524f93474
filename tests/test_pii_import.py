"""The PII stage imports presidio without torch and transformers (seconds per worker process)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from corpusforge.pipeline.pii import PiiConfig, Scrubber
scrubbed = Scrubber(PiiConfig(mode="fast")).scrub(["mail jane.doe@example.com now"])
print("torch" in sys.modules, "transformers" in sys.modules, scrubbed[0].text)
import torch, transformers  # still importable afterwards, for training in the same process
print(torch.ones(2).sum().item(), transformers.__name__)
"""


def test_pii_stage_imports_presidio_without_torch_or_transformers():
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = done.stdout.strip().splitlines()[-2:]
    assert first == "False False mail <|email|> now"
    assert second == "2.0 transformers"
