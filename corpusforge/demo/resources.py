"""The demo corpus's word lists, templates and licence texts: package data under `data/`."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any


def read_text(name: str) -> str:
    """The text of `data/<name>` (UTF-8)."""
    return (files("corpusforge.demo") / "data" / name).read_text(encoding="utf-8")


@cache
def load_json(name: str) -> Any:
    """The parsed `data/<name>`; callers only read it."""
    return json.loads(read_text(name))
