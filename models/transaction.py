"""A database transaction whose follow-up work (sending tasks) runs only after commit."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pony import orm

log = logging.getLogger(__name__)
_local = threading.local()


def after_commit(fn: Callable[[], object]) -> None:
    """Run `fn` once the enclosing transaction has committed; never if it rolls back."""
    pending = getattr(_local, "pending", None)
    if pending is None:
        raise RuntimeError("after_commit() needs an enclosing transaction()")
    pending.append(fn)


class transaction:
    """`db_session` plus after-commit callbacks. Enter and exit may be called by hand.

    A DomainError with `keeps_changes` commits like success and still propagates.
    A callback that fails is logged, not raised, and the ones after it are not
    run: the data is committed by then, and whatever they would have done is
    picked up again by the beat sweepers.
    """

    def __enter__(self) -> transaction:
        if getattr(_local, "pending", None) is not None:
            raise RuntimeError("transactions do not nest")
        _local.pending = []
        orm.db_session.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        pending, _local.pending = _local.pending, None
        if getattr(exc, "keeps_changes", False):
            # A domain refusal that must leave its record behind: commit, then let it rise.
            exc_type = exc = tb = None
        orm.db_session.__exit__(exc_type, exc, tb)
        if exc_type is not None:
            return
        for done, fn in enumerate(pending):
            try:
                fn()
            except Exception:
                # The broker is down: the rest would each wait for it too.
                log.exception(
                    "after-commit callback %r failed; %d more left to the sweepers",
                    fn,
                    len(pending) - done - 1,
                )
                return
