"""Errors that are the user's to fix: the CLI and stage scripts print them as one clear
message and exit with status 2, without a traceback."""


class UserError(ValueError):
    """Bad input, bad params or a bad path: the message says what and where."""


class IngestError(UserError):
    """A problem with a whole input (file, folder or mapping), not with one row."""
