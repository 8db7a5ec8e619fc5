"""Errors that stop a run with exit code 2 (bad input or an unusable tool), never a traceback."""


class InputError(Exception):
    """Bad input: a malformed file, a path that does not exist, an overlay that does not build.

    The message is one line that names the file (and line or resource) and says what is wrong.
    """


class ToolError(InputError):
    """A pinned tool is missing or failed in a way that is not a finding about the manifests."""
