"""Errors shared by the CLI and the library modules."""


class UsageError(Exception):
    """Bad input from the user; the message says what to do (the CLI exits with 2)."""
