"""Group rollouts (DESIGN §1 "Group rollouts"): one version for every district of a state or
consortium group, as ordinary update requests linked to a rollout row.

- `rules`: the plain rules: input limits, which refusals skip a district, waves, the error budget,
  which staff action is allowed from which status, the rolled-up status.
- `starting`: staff start a rollout; its requests are created at once and placed in their slots.
- `waves`: the dispatcher asks whether a rollout's request may start now.
- `budget`: the scheduler halts rollouts whose error budget is spent.
- `control`: staff pause, resume and cancel.
- `held`: a paused rollout's requests whose slot passes are set aside once, not re-slotted weekly.
- `counts`: requests per status, in one query for any number of rollouts.
- `visibility`: who sees which rollouts.
- `rows`: loading and locking a rollout, its words for people, announcing its changes.
"""
