"""Webhooks: partners' endpoints, their delivery log, create and delete."""
