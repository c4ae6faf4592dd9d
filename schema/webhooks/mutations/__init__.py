"""One module per mutation on webhooks."""
