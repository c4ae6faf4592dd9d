"""Every error the workers raise, in one place."""

from __future__ import annotations


class WorkerError(Exception):
    """Base of the workers' errors."""


class ConfigurationError(WorkerError):
    """The deployment is missing a setting the chosen mode needs (REDIS_URL, an operator command...)."""


class StepFailed(WorkerError):
    """A runbook step did not succeed. `reason` is for the district (words a person can act on,
    never command output, host or role names); `detail` is the technical detail for hosting staff
    only (command stderr, tool messages), already redacted."""

    def __init__(self, reason: str, *, retryable: bool = True, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.detail = detail


class MailDeliveryError(WorkerError):
    """The SMTP server did not accept a mail; the mail job is retried."""
