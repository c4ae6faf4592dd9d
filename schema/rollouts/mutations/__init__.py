"""One module per mutation on group rollouts (hosting staff only)."""
