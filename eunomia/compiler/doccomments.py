"""`///` doc comments of a BPF C source, keyed by the name of the declaration below them.

    /// Process ID to trace
    /// @cmdarg {"short": "p", "default": 0}
    const volatile int targ_pid = 0;

gives {"targ_pid": {"description": "Process ID to trace", "cmdarg": {"short": "p",
"default": 0}}}. Plain lines join into `description`; `@key value` sets `key` to the value
parsed as JSON when it is JSON, else the text (a bare `@key` is true); lines after an
`@key` line continue its value up to a blank `///` line; repeated object values merge.

A small scanner, not a C parser: it knows comments, string and char literals, preprocessor
lines and nested brackets, which is all it takes to find the declared name of a global
variable, a map (`struct {...} NAME SEC(".maps");`) or a function (including the
`int BPF_PROG(name, ...)` family of macros).
"""

from __future__ import annotations

import json
import re
from typing import Any

_IDENT = re.compile(r"[A-Za-z_]\w*")
_SEC = re.compile(r'\bSEC\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)')
_ATTRIBUTE = re.compile(r"__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)")
_MACRO_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_CLOSING = {"(": ")", "[": "]", "{": "}"}


def parse_doc_lines(lines: list[str]) -> dict[str, Any]:
    """The text of `///` lines (without the slashes) -> a dict of doc keys."""
    doc: dict[str, Any] = {}
    paragraphs: list[list[str]] = [[]]
    key: str | None = None
    value_lines: list[str] = []

    def finish_key():
        nonlocal key
        if key is not None:
            _set_value(doc, key, " ".join(value_lines).strip())
        key = None
        value_lines.clear()

    for raw in lines:
        line = raw.strip()
        if not line:
            finish_key()
            if paragraphs[-1]:
                paragraphs.append([])
            continue
        if line.startswith("@") and _IDENT.match(line, 1):
            finish_key()
            name = _IDENT.match(line, 1)
            key = name.group(0)
            value_lines.append(line[name.end():].strip())
        elif key is not None:
            value_lines.append(line)
        else:
            paragraphs[-1].append(line)
    finish_key()
    description = "\n".join(" ".join(p) for p in paragraphs if p)
    if description:
        if isinstance(doc.get("description"), str):
            description = doc["description"] + "\n" + description
        doc["description"] = description
    return doc


def _set_value(doc: dict, key: str, text: str) -> None:
    if not text:
        value: Any = True
    else:
        try:
            value = json.loads(text)
        except ValueError:
            value = text
    if isinstance(value, dict) and isinstance(doc.get(key), dict):
        doc[key] = {**doc[key], **value}
    else:
        doc[key] = value


class _Scanner:
    """Walks C text; `skip_*` methods return the index just past what they skip."""

    def __init__(self, text: str):
        self.text = text
        self.n = len(text)

    def skip_line(self, i: int) -> int:
        end = self.text.find("\n", i)
        return self.n if end < 0 else end + 1

    def skip_preprocessor(self, i: int) -> int:
        while True:
            end = self.text.find("\n", i)
            if end < 0:
                return self.n
            if not self.text[:end].rstrip("\r").endswith("\\"):
                return end + 1
            i = end + 1

    def skip_block_comment(self, i: int) -> int:
        end = self.text.find("*/", i + 2)
        return self.n if end < 0 else end + 2

    def skip_literal(self, i: int) -> int:
        quote = self.text[i]
        j = i + 1
        while j < self.n:
            c = self.text[j]
            if c == "\\":
                j += 2
                continue
            if c == quote or c == "\n":
                return j + 1
            j += 1
        return self.n

    def at_line_start(self, i: int) -> bool:
        start = self.text.rfind("\n", 0, i) + 1
        return not self.text[start:i].strip()

    def declaration(self, i: int) -> tuple[int, str, bool]:
        """From `i` to the end of one top-level declaration or definition.

        Returns (end, flat text, is_function): the flat text keeps everything outside
        braces (string literals included, so SEC("...") stays readable), with brace
        contents dropped.
        """
        flat: list[str] = []
        stack: list[str] = []
        j = i
        while j < self.n:
            c = self.text[j]
            two = self.text[j:j + 2]
            if two == "//":
                j = self.skip_line(j)
                continue
            if two == "/*":
                j = self.skip_block_comment(j)
                flat.append(" ")
                continue
            if c in "\"'":
                end = self.skip_literal(j)
                if "}" not in stack:
                    flat.append(self.text[j:end])
                j = end
                continue
            if c == "#" and not stack and self.at_line_start(j):
                j = self.skip_preprocessor(j)
                continue
            if c in _CLOSING:
                if c == "{" and not stack and "".join(flat).rstrip().endswith(")"):
                    return self._skip_group(j), "".join(flat), True
                if "}" not in stack:
                    flat.append(c)
                stack.append(_CLOSING[c])
            elif c in ")]}":
                if not stack:  # stray closer: end here without consuming more
                    return j + 1, "".join(flat), False
                stack.pop()
                if "}" not in stack:
                    flat.append(c)
            elif c == ";" and not stack:
                return j + 1, "".join(flat), False
            elif "}" not in stack:
                flat.append(c)
            j += 1
        # ran off the end: an unfinished declaration declares nothing
        return self.n, "", False

    def _skip_group(self, j: int) -> int:
        depth = 0
        while j < self.n:
            c = self.text[j]
            two = self.text[j:j + 2]
            if two == "//":
                j = self.skip_line(j)
                continue
            if two == "/*":
                j = self.skip_block_comment(j)
                continue
            if c in "\"'":
                j = self.skip_literal(j)
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        return self.n


def declared_name(flat: str, is_function: bool) -> str | None:
    """The name a flat declaration declares, or None (a type definition, `struct x {...};`)."""
    text = _ATTRIBUTE.sub(" ", flat)
    text = _SEC.sub(" ", text).strip()
    if is_function:
        match = re.search(r"([A-Za-z_]\w*)\s*\(", text)
        if match is None:
            return None
        name = match.group(1)
        if _MACRO_NAME.match(name):  # int BPF_PROG(handle_exec, ...) and friends
            inner = _IDENT.match(text, match.end()) or _IDENT.search(text, match.end())
            return inner.group(0) if inner else None
        return name
    depth = 0
    for k, c in enumerate(text):  # cut the initializer
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "=" and depth == 0:
            text = text[:k].rstrip()
            break
    if text.endswith("}"):
        return None
    text = re.sub(r"\[[^\]]*\]", " ", text)
    names = _IDENT.findall(text)
    return names[-1] if names else None


def section_of(flat: str) -> str | None:
    """The SEC("...") name in a flat declaration, if any."""
    match = _SEC.search(flat)
    return match.group(1) if match else None


def scan_doc_comments(source: str) -> dict[str, dict[str, Any]]:
    """{declared name: doc dict} for every declaration directly below `///` lines."""
    scanner = _Scanner(source)
    docs: dict[str, dict[str, Any]] = {}
    pending: list[str] = []
    i = 0
    n = len(source)
    while i < n:
        c = source[i]
        if c.isspace():
            i += 1
            continue
        if source.startswith("///", i) and not source.startswith("////", i):
            end = scanner.skip_line(i)
            line = source[i + 3:end].rstrip("\r\n")
            if not line.startswith("<"):  # `///<` documents the previous member
                pending.append(line.removeprefix(" "))
            i = end
            continue
        if source.startswith("//", i):
            i = scanner.skip_line(i)
            pending = []
            continue
        if source.startswith("/*", i):
            i = scanner.skip_block_comment(i)
            pending = []
            continue
        if c == "#" and scanner.at_line_start(i):
            i = scanner.skip_preprocessor(i)
            pending = []
            continue
        end, flat, is_function = scanner.declaration(i)
        if pending:
            name = declared_name(flat, is_function)
            if name:
                docs[name] = parse_doc_lines(pending)
            pending = []
        i = max(end, i + 1)
    return docs


_STRUCT_OPEN = re.compile(r"\bstruct\s+([A-Za-z_]\w*)\s*\{")


def struct_member_docs(source: str) -> dict[str, dict[str, dict[str, Any]]]:
    """{struct: {member: doc dict}} for members directly below `///` lines, in every
    `struct NAME { ... }` of `source` (a header's `/// @format ip` on a member)."""
    scanner = _Scanner(source)
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for match in _STRUCT_OPEN.finditer(source):
        body_start = match.end()
        body_end = scanner._skip_group(match.end() - 1) - 1
        docs = scan_doc_comments(source[body_start:body_end])
        if docs:
            found.setdefault(match.group(1), {}).update(docs)
    return found


def strip_comments(source: str) -> str:
    """`source` with comments replaced by spaces (string literals kept as they are)."""
    scanner = _Scanner(source)
    out: list[str] = []
    i = 0
    n = len(source)
    while i < n:
        two = source[i:i + 2]
        if two == "//":
            end = scanner.skip_line(i)
            out.append("\n")
        elif two == "/*":
            end = scanner.skip_block_comment(i)
            out.append(" " + "\n" * source.count("\n", i, end))
        elif source[i] in "\"'":
            end = scanner.skip_literal(i)
            out.append(source[i:end])
        else:
            end = i + 1
            out.append(source[i])
        i = end
    return "".join(out)
