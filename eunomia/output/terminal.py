"""Text that reaches a terminal: control characters shown escaped.

Any unprivileged process can name itself with escape sequences (prctl(PR_SET_NAME)), and
file names, etcd values and package strings can hold them too; printed raw, they would
move the cursor, retitle the window or worse on the operator's terminal. Tables, CSV and
listings show them as `\\x1b`; JSON keeps its own escapes.
"""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls (some terminals act on 8-bit CSI, \x9b)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _escape(match: re.Match) -> str:
    return f"\\x{ord(match.group()):02x}"


def _escaped(text: str, controls: re.Pattern) -> str:
    # text without any is returned as it is, at the cost of one search
    return text if controls.search(text) is None else controls.sub(_escape, text)


def terminal_safe(text: str) -> str:
    """`text` with every control character written as \\xNN."""
    return _escaped(text, _CONTROL)


def terminal_safe_lines(text: str) -> str:
    """terminal_safe for text of several lines (a listing, a log message): line breaks
    stay, every other control character is written as \\xNN."""
    return _escaped(text, _CONTROL_BUT_NEWLINE)
