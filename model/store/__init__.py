"""Access-controlled, encrypted, audited checkpoint storage (see docs/store.md).

Use `bootstrap_store(workspace)` once (returns the admin and `svc:trainer` tokens), then
`open_store(workspace, token)` for a `SecureCheckpointStore`, which implements
`corpusforge.model.storage.CheckpointStorage`.
"""

from corpusforge.model.store.keys import KeyProvider, LocalKeyProvider, WrongMasterKey
from corpusforge.model.store.policy import CLASSIFICATIONS, ROLE_PERMISSIONS, classify, decide
from corpusforge.model.store.registry import AuthenticationFailed, Principal
from corpusforge.model.store.store import (
    SecureCheckpointStore,
    bootstrap_store,
    fetched,
    is_initialised,
    open_store,
)

__all__ = [
    "CLASSIFICATIONS",
    "ROLE_PERMISSIONS",
    "AuthenticationFailed",
    "KeyProvider",
    "LocalKeyProvider",
    "Principal",
    "SecureCheckpointStore",
    "WrongMasterKey",
    "bootstrap_store",
    "classify",
    "decide",
    "fetched",
    "is_initialised",
    "open_store",
]
