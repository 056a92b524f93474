"""CLI command modules. Each defines `register(app)`; `corpusforge.cli` discovers them.

They import the flows, the stages and the store inside the command functions (each such import
marked `# lazy: ...` with the libraries it would load), so `corpusforge --help` and argument
errors answer without loading Prefect, torch, spaCy or SQLAlchemy.
"""
