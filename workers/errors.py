"""Every error the workers raise, in one place."""

from __future__ import annotations


class WorkerError(Exception):
    """Base of the workers' errors."""


class ConfigurationError(WorkerError):
    """The deployment is missing a setting the chosen mode needs (REDIS_URL, an operator command...)."""


class StepFailed(WorkerError):
    """A runbook step did not succeed; the message is the reason a person can act on."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class MailDeliveryError(WorkerError):
    """The SMTP server did not accept a mail; the mail job is retried."""
