"""One module per mutation on requests: its input, its payload use and its field function."""
