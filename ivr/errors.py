"""Errors shared across packages that must not depend on ivr.cli being imported once (python -m ivr.cli)."""


class CliError(Exception):
    """A failure the user can act on: printed as one message, exit code 2, no traceback."""
