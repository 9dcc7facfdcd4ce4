"""One kind of error for expected user mistakes, and the entry-point guard that reports it."""
import functools
import sys

USAGE_EXIT_CODE = 2


class UserError(Exception):
    """A mistake the user can fix (bad path, key, value or file). Reported in one line, no traceback."""


def report_user_errors(main):
    """Decorate an entry point: a UserError prints 'error: <message>' to stderr and exits with code 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            sys.exit(USAGE_EXIT_CODE)

    return wrapper
