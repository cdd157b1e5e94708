"""The one exception type for bad input met at the edge (files, options); its message is one line for the user."""


class InputError(Exception):
    """A missing, empty, unreadable or unsupported input, or an output that cannot be written."""
