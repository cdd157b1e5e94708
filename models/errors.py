"""The model file's error type, apart from the networks so that the CLI can catch it without importing torch."""


class ModelFileError(Exception):
    """A model file that cannot be used; the message is one line meant for the user."""
