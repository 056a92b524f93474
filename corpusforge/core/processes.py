"""Child processes die with the command that started them.

A `kill -9` of a CLI command gives it no chance to stop its worker pool or its temporary
Prefect API server. Each worker therefore watches its parent and exits when it is gone, and
the API server gets the kernel's parent-death signal.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
_WATCH_SECONDS = 0.5


def exit_with_parent() -> None:
    """In a worker process: exit as soon as the process that started it is gone.

    A thread polls the parent pid (a re-parented process sees another one). Polling, not
    PR_SET_PDEATHSIG: that signal fires when the parent *thread* that forked exits, and pool
    workers are often forked from short-lived threads.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(_WATCH_SECONDS)
            if os.getppid() != parent:
                os._exit(70)

    threading.Thread(target=watch, name="corpusforge-parent-watch", daemon=True).start()


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # the C library already loaded
    except (OSError, AttributeError):
        return None


# Resolved now: a preexec function runs between fork and exec, where it must not import,
# look up libraries or start processes.
_prctl = _load_prctl()


def die_with_parent_signal() -> None:
    """`preexec_fn` for a subprocess started from the main thread: the kernel sends it
    SIGTERM when this process dies (Linux; elsewhere a no-op)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
