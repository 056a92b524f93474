"""Typed errors. Library code raises these; the CLI turns them into one-line messages.

Messages must never carry document text or PII: name files, positions, ids and reasons only.
"""


class CorpusforgeError(Exception):
    """Base class for every error the CLI reports as a one-line reason."""


class InputError(CorpusforgeError):
    """Input that cannot be processed at all (missing file, unknown format, bad arguments)."""


class ConfigError(CorpusforgeError):
    """Invalid configuration."""


class IntegrityError(CorpusforgeError):
    """A file, shard, manifest or audit entry does not match its recorded hash."""


class AccessDenied(CorpusforgeError):
    """A principal is not allowed to do what it asked."""
