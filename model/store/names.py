"""Checkpoint names: relative, slash-separated, no traversal, nothing the store uses itself.

A name such as `runs/tiny-demo/step-000100` becomes a folder in the store. Segments may hold
letters, digits, `.`, `_` and `-` but may not start with `.`, so `..`, hidden files, absolute
paths, backslashes, `~` and URL schemes are all refused before any path is built. The store
keeps its own files under `@`-prefixed names, which no checkpoint name can produce.
"""

from __future__ import annotations

import re

from corpusforge.core.errors import InputError

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
MAX_NAME_LENGTH = 200


def validate_name(name: str) -> str:
    """Return `name` if it is a safe checkpoint name, else raise InputError saying why."""
    if not isinstance(name, str) or not name:
        raise InputError("checkpoint name is empty")
    shown = name if len(name) <= 80 and name.isprintable() else repr(name[:80])
    if len(name) > MAX_NAME_LENGTH:
        raise InputError(f"checkpoint name is longer than {MAX_NAME_LENGTH} characters")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "://" in name:
        raise InputError(f"checkpoint name {shown} is absolute; use a relative name")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise InputError(f"checkpoint name {shown} has an empty, '.' or '..' segment")
        if not _SEGMENT.fullmatch(segment):
            raise InputError(
                f"checkpoint name {shown}: segments may only hold letters, digits, '.', '_' "
                "and '-', and may not start with '.'"
            )
    return name


def validate_relative_file(path: str) -> str:
    """A file path inside a checkpoint (from its manifest): relative, no traversal."""
    if not path or path.startswith(("/", "\\")) or "\\" in path or re.match(r"^[A-Za-z]:", path):
        raise InputError("checkpoint file path is absolute or empty")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise InputError("checkpoint file path has an empty, '.' or '..' segment")
    return path
