"""Districts (the dropdown), their update groups and their environments (hosted sites)."""
