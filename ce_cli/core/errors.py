"""The one exception type a user ever sees: a one-line message, exit code 2."""

from __future__ import annotations


class CEError(Exception):
    """A user mistake or bad input: one line naming file, column, row, value and the fix.

    The CLI prints ``ce: error: <message>`` on stderr and exits with code 2.
    """
