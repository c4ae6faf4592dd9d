"""Maintenance window rules and blackouts: when work may start, as data hosting staff manage."""
