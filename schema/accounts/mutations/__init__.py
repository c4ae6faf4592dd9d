"""One module per mutation of the accounts feature."""
