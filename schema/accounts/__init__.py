"""Accounts and the signed-in viewer with its saved preferences."""
