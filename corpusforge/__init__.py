"""corpusforge: privacy-aware corpus preparation and LLM training, orchestrated by Prefect."""

__version__ = "0.1.0"
