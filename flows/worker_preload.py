"""What the fork server of `corpusforge.flows.workers` loads once, so every worker forked from it
starts ready: the stage modules (and their libraries) and dedup's compiled kernels. Nothing here may
import Prefect: the workers never need it."""

import corpusforge.pipeline.dedup.stage  # noqa: F401
import corpusforge.pipeline.ingest.stage  # noqa: F401
import corpusforge.pipeline.pii.stage  # noqa: F401
import corpusforge.pipeline.tokenize.stage  # noqa: F401
from corpusforge.pipeline.dedup.config import DedupConfig
from corpusforge.pipeline.dedup.signatures import warm_up

warm_up(DedupConfig())  # loads the cached machine code once, not per task
