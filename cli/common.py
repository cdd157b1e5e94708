"""What every command shares: help layout and the translation of user errors into one line and exit code 1."""

from __future__ import annotations

import functools
import sys

import click

from stylize.models import ModelFileError, SchemaError
from stylize.pipeline.errors import InputError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
USER_ERRORS = (ModelFileError, SchemaError, InputError)


def fail_cleanly(f):
    """Errors the user caused become ``Error: <one line>`` with exit code 1; Ctrl-C exits 130 with a line saying
    nothing was left half-written (the pipeline cleans up its temporary outputs before re-raising)."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except USER_ERRORS as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            click.echo("\ninterrupted; no partial output was left", err=True)
            sys.exit(130)

    return wrapper
