"""One module per mutation of the schedule feature (hosting staff only)."""
