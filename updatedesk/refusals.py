"""A refusal a command prints as one line on stderr (exit status 2), raised by the commands that
live outside `updatedesk.cli` (`bootstrap`, `dev --reset`) without importing it."""

from __future__ import annotations


class CommandRefused(Exception):
    """The command cannot do what was asked; the message says why and what to do instead."""
