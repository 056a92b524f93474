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


class EnvironmentProblem(CorpusforgeError):
    """The machine, not the input, failed: a missing module or model, a permission, a full
    disk. A stage stops on it instead of quarantining every record."""


_ENVIRONMENT_ERRNOS = {"ENOSPC", "EROFS", "EDQUOT", "EACCES", "EPERM", "EMFILE", "ENFILE", "EIO"}


def environment_problem(exc: BaseException) -> EnvironmentProblem | None:
    """An `EnvironmentProblem` naming the cause when `exc` is the machine's fault, else None."""
    import errno

    if isinstance(exc, EnvironmentProblem):
        return exc
    if isinstance(exc, ImportError):
        missing = getattr(exc, "name", None) or "a module"
        return EnvironmentProblem(f"missing Python module {missing!r} (install it; see doctor)")
    if isinstance(exc, MemoryError):
        return EnvironmentProblem("out of memory")
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, "")
        if name in _ENVIRONMENT_ERRNOS:
            return EnvironmentProblem(f"{exc.strerror or name} ({name})")
    return None
