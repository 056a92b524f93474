"""CLI command modules. Each defines `register(app)`; `corpusforge.cli` discovers them."""
