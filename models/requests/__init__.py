"""Update requests: every way a request is created, moved, listed and run, one module per concern.

- `queries`: which requests a caller sees and how lists are drawn (Hide Complete, what is listed).
- `moves`: the one compare-and-set that moves a request, with its history row, event and mails.
- `announced`: the record of a request's latest move made again (when its announcement was lost).
- `outbox`: who is told of a move, written as outbox rows in the move's transaction.
- `requesting`: a district contact (or the system) asks for work; supersession; idempotency.
- `withdrawing`: cancel and delete.
- `staff`: the hosting team schedules and moves statuses.
- `rollout`: one version for every district of a group.
- `dispatch`: the scheduler's side: due requests to NOT_STARTED, lost jobs.
- `execution`: the worker's side: begin, progress, checkpoints.
- `completion`: the worker's end: complete (with superseded and sandbox follow-up) or fail.

Whether an actor may make a move at all is asked of `models.lifecycle`.
"""
