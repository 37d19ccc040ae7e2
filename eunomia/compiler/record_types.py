"""Which struct each ring buffer / perf event array carries, read from the source.

Used when neither a `/// @export NAME` note nor a single export type decides. Looks at
the calls that fill an output map and at the type of what they pass:

    e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);        // struct event *e;
    bpf_ringbuf_output(&rb, &ev, sizeof(ev), 0);         // struct event ev;
    bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &ev, sizeof(ev));

and returns the C spellings found per map ("struct event", or a typedef name); the caller
resolves them against the object's BTF.
"""

from __future__ import annotations

import re

from .doccomments import strip_comments

_CALL = re.compile(r"\b(bpf_ringbuf_reserve|bpf_ringbuf_output|bpf_perf_event_output)\s*\(")
# (map argument index, data argument index, size argument index) per helper
_ARGS = {"bpf_ringbuf_reserve": (0, None, 1), "bpf_ringbuf_output": (0, 1, 2),
         "bpf_perf_event_output": (1, 3, 4)}
_NOT_TYPES = {"return", "sizeof", "else", "case", "goto", "const", "volatile", "static",
              "unsigned", "signed", "if", "while", "for", "do", "switch"}
_IDENT = re.compile(r"^[A-Za-z_]\w*$")


def _arguments(code: str, open_paren: int) -> tuple[list[str], int]:
    """The top-level comma-separated arguments of the call whose '(' is at open_paren."""
    args, depth, start = [], 0, open_paren + 1
    i = open_paren
    while i < len(code):
        c = code[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append(code[start:i].strip())
                return args, i + 1
        elif c == "," and depth == 1:
            args.append(code[start:i].strip())
            start = i + 1
        elif c in "\"'":
            end = code.find(c, i + 1)
            i = len(code) if end < 0 else end
        i += 1
    return args, len(code)


def declared_type(code: str, name: str, before: int) -> str | None:
    """The type a variable `name` was last declared with before offset `before`
    ("struct event" for `struct event *e` or `struct event ev`), pointer stripped."""
    pattern = re.compile(r"(?:\bstruct\s+([A-Za-z_]\w*)|\b([A-Za-z_]\w*))\s*\**\s*\b"
                         + re.escape(name) + r"\s*(?=[;=,)\[])")
    found = None
    for match in pattern.finditer(code, 0, before):
        if match.group(1):
            found = f"struct {match.group(1)}"
        elif match.group(2) not in _NOT_TYPES:
            found = match.group(2)
    return None if found == "void" else found  # a void * says nothing: look at the size


def _type_of_size(code: str, arg: str, at: int) -> str | None:
    match = re.fullmatch(r"sizeof\s*\(?\s*(.*?)\s*\)?", arg, re.DOTALL)
    if match is None:
        return None
    inner = match.group(1).strip()
    struct = re.fullmatch(r"struct\s+([A-Za-z_]\w*)", inner)
    if struct:
        return f"struct {struct.group(1)}"
    inner = inner.lstrip("*").strip()
    if _IDENT.match(inner):
        return declared_type(code, inner, at) or inner  # a variable, else a type name
    return None


def _type_of_data(code: str, arg: str, at: int) -> str | None:
    name = arg.lstrip("&").strip()
    name = re.sub(r"^\(\s*[^)]*\)\s*", "", name)  # drop a cast
    if _IDENT.match(name):
        return declared_type(code, name, at)
    return None


def infer_record_types(source: str) -> dict[str, set[str]]:
    """{map name: C spellings of what the source puts in it}."""
    code = strip_comments(source)
    found: dict[str, set[str]] = {}
    for call in _CALL.finditer(code):
        helper = call.group(1)
        args, _ = _arguments(code, call.end() - 1)
        map_index, data_index, size_index = _ARGS[helper]
        if len(args) <= max(i for i in (map_index, data_index, size_index) if i is not None):
            continue
        map_name = args[map_index].lstrip("&").strip()
        if not _IDENT.match(map_name):
            continue
        spellings = found.setdefault(map_name, set())
        if helper == "bpf_ringbuf_reserve":
            target = re.search(r"([A-Za-z_]\w*)\s*=\s*(?:\([^()]*\)\s*)?$", code[:call.start()])
            typ = declared_type(code, target.group(1), call.start()) if target else None
            typ = typ or _type_of_size(code, args[size_index], call.start())
        else:
            typ = (_type_of_data(code, args[data_index], call.start())
                   or _type_of_size(code, args[size_index], call.start()))
        if typ:
            spellings.add(typ)
    return found


def header_struct_names(header: str) -> list[str]:
    """Names of the structs a header defines (`struct NAME {`), in order, no repeats."""
    names: list[str] = []
    for match in re.finditer(r"\bstruct\s+([A-Za-z_]\w*)\s*\{", strip_comments(header)):
        if match.group(1) not in names:
            names.append(match.group(1))
    return names
