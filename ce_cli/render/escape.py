"""Untrusted text (class names, column names, ids, file names, group keys and the messages
that quote them) made safe for each medium ``ce`` writes to.

- ``one_line``: terminal and plain text — every control character becomes a visible escape
  (``\\n``, ``\\x1b``, ``\\u2028``), so data never starts a line, moves the cursor, sets a
  window title or reorders text (bidi overrides);
- ``markdown``: ``one_line`` plus ``\\``, ``|`` and a tag-opening ``<`` escaped (a table row
  stays a row, no HTML from data);
- ``xml_text``: ``one_line`` (XML 1.0 cannot hold most C0 characters at all);
- ``html_text``: ``one_line`` plus noncharacters made visible and ``& < > " '`` as character
  references, for HTML/SVG text and quoted attributes;
- ``plot_label``: ``one_line`` plus ``$`` escaped (matplotlib would read mathtext);
- ``github_data`` / ``github_property``: GitHub workflow-command values, percent-encoded as
  ``actions/toolkit`` does (``%`` → ``%25``, CR → ``%0D``, LF → ``%0A``; in properties also
  ``:`` → ``%3A``, ``,`` → ``%2C``), other controls as visible escapes;
- ``github_guard``: text wrapped in ``::stop-commands::TOKEN`` … ``::TOKEN::`` when running in
  GitHub Actions, GitHub's advice for printing untrusted output.

JSON needs nothing more than ``json.dumps`` (it escapes every control character).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping

# C0, DEL, C1; line/paragraph separators; bidi marks, embeddings, overrides and isolates;
# lone surrogates (undecodable file-name bytes); the two non-characters XML 1.0 forbids.
_OTHER = (
    "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff"
)
CONTROL = re.compile(f"[\x00-\x1f{_OTHER}]")
_CONTROL_BUT_NEWLINES = re.compile(f"[\x00-\x09\x0b\x0c\x0e-\x1f{_OTHER}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: object) -> str:
    """``text`` with every control character as a visible escape: ``'a\\nb'`` → ``a\\nb``."""
    return CONTROL.sub(_visible, str(text))


_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def markdown(text: object) -> str:
    """A Markdown table cell or list item: one line, ``\\`` and ``|`` escaped, and ``<``
    where it could open an HTML tag (``<script``, ``</details``; ``<=`` stays)."""
    escaped = one_line(text).replace("\\", "\\\\").replace("|", "\\|")
    return _TAG_START.sub("&lt;", escaped)


def xml_text(text: object) -> str:
    """Text or an attribute value XML 1.0 can hold (``&``, ``<``, ``]]>`` are the
    serializer's job)."""
    return one_line(text)


# Noncharacters beyond the two ``_OTHER`` holds: HTML calls each one in the input a parse error.
_NONCHARACTER = re.compile("[\ufdd0-\ufdef\U0001fffe-\U0010ffff]")


def _noncharacter(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE:
        return f"\\U{code:08x}"
    return match.group()


def html_text(text: object) -> str:
    """HTML (or SVG) text or a quoted attribute value: ``one_line`` (no control character, no
    line break, so no line of the document starts with data), noncharacters visible, and
    ``&``, ``<``, ``>``, ``"``, ``'`` as character references."""
    visible = _NONCHARACTER.sub(_noncharacter, one_line(text))
    return html.escape(visible, quote=True)


def plot_label(text: object) -> str:
    """A matplotlib label: one line, ``$`` escaped so it is never parsed as mathtext."""
    return one_line(text).replace("$", r"\$")


def github_data(text: object) -> str:
    """A workflow command's message: ``%``, CR, LF percent-encoded; other controls visible."""
    visible = _CONTROL_BUT_NEWLINES.sub(_visible, str(text))
    return visible.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_property(text: object) -> str:
    """A workflow command's property value: ``github_data`` plus ``:`` and ``,``."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


def in_github_actions(env: Mapping[str, str] | None = None) -> bool:
    return (os.environ if env is None else env).get("GITHUB_ACTIONS") == "true"


def github_guard(text: str, env: Mapping[str, str] | None = None) -> str:
    """``text`` between ``::stop-commands::TOKEN`` and ``::TOKEN::`` (a fresh random token)
    when ``GITHUB_ACTIONS=true``, so no line of it can run a workflow command; else ``text``.
    A trailing newline is kept where it was (``click.echo`` adds its own)."""
    if not text or not in_github_actions(env):
        return text
    start, end = guard_lines()
    if text.endswith("\n"):
        return f"{start}\n{text}{end}\n"
    return f"{start}\n{text}\n{end}"


def guard_lines() -> tuple[str, str]:
    """The two lines around untrusted output: ``::stop-commands::TOKEN``, ``::TOKEN::``."""
    import secrets  # only in GitHub Actions (its hmac/hashlib import costs ~7 ms at start-up)

    token = secrets.token_hex(16)
    return f"::stop-commands::{token}", f"::{token}::"
