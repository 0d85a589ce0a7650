"""The one exception type users see as a clean one-line message."""


class AbcrnnError(Exception):
    """A problem with the user's input or config: printed as one line, no traceback."""
