"""What the fork server of `flows.workers` loads once, so every worker forked from it starts
ready: the stage modules (and their libraries) and dedup's compiled kernels. Nothing here may
import Prefect: the workers never need it."""

import pipeline.dedup.stage  # noqa: F401
import pipeline.ingest.stage  # noqa: F401
import pipeline.pii.stage  # noqa: F401
import pipeline.tokenize.stage  # noqa: F401
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.signatures import warm_up

warm_up(DedupConfig())  # loads the cached machine code: ~0.5 s per worker otherwise
