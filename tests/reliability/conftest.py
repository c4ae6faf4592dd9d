"""Fixtures of the reliability trials: the worker-process helpers of tests/workers, reused."""

from __future__ import annotations

from tests.workers.conftest import mailbox
from tests.workers.test_processes import api, namespace, processes

__all__ = ["api", "mailbox", "namespace", "processes"]
