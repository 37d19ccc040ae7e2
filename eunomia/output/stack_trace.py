"""eunomia-bpf's `stack_trace` interpreter: a ring buffer or perf event array whose map
meta says `"intepreter": {"stack_trace": {"field_map": {...}, "with_symbols": true}}`
(upstream's spelling; `/// @intepreter {"stack_trace": {}}` in the source) carries
records with a kernel and a user stack as arrays of return addresses, and their sizes in
bytes as bpf_get_stack() returns them. Their stack fields are shown as frames: kernel
ones through kallsyms, user ones in the record's process (addresses when
`with_symbols` is false), in tables and JSON, and as folded stacks with --stacks folded.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ArgumentError, PackageError
from ..valueclass import valueclass
from .formats import Stack, no_stack, resolved_stack

# the record's fields each role reads, by default named as the role
ROLES = ("pid", "cpu_id", "comm", "kstack_sz", "ustack_sz", "kstack", "ustack")
_ADDRESS = 8        # bytes of one return address


@valueclass(frozen=True)
class StackTrace:
    """How a record's stack fields are shown (upstream's stack_trace interpreter)."""

    fields: dict[str, str]          # role -> field of the record
    with_symbols: bool = True

    def formats(self) -> dict[str, Callable]:
        """{field: show} for the two stack fields."""
        return {self.fields["kstack"]: self._show(True), self.fields["ustack"]:
                self._show(False)}

    def check(self, map_name: str, names) -> None:
        """ArgumentError when a role names no field of the record."""
        for role, name in self.fields.items():
            if name not in names:
                raise ArgumentError(f"map '{map_name}': its stack_trace interpreter reads "
                                    f"field '{name}' as {role}, and the record has none "
                                    f"(its fields: {', '.join(names) or 'none'})")

    def _show(self, kernel: bool) -> Callable:
        size_field = self.fields["kstack_sz" if kernel else "ustack_sz"]
        pid_field = self.fields["pid"]

        def show(value, record: dict | None = None):
            if not isinstance(value, list):
                raise TypeError("a stack_trace stack is an array of addresses")
            size = (record or {}).get(size_field)
            if not isinstance(size, int) or isinstance(size, bool):
                raise TypeError(f"{size_field} is not a size")
            if size < 0:                # bpf_get_stack's error
                return no_stack(size)
            addresses = [int(a) for a in value[:int(size / _ADDRESS)]]
            if not self.with_symbols:
                return Stack(f"0x{address:016x}" for address in addresses)
            pid = None if kernel else (record or {}).get(pid_field)
            return resolved_stack(addresses, pid if isinstance(pid, int) else None)
        show.wants_record = True
        return show


def stack_traces(package) -> dict[str, StackTrace]:
    """{map: StackTrace} for the maps whose meta asks for the interpreter."""
    found = {}
    for meta in package.meta.bpf_skel.maps or []:
        interpreter = meta.extra.get("intepreter", meta.extra.get("interpreter"))
        if not isinstance(interpreter, dict) or "stack_trace" not in interpreter:
            continue
        spec = interpreter["stack_trace"] or {}
        if not isinstance(spec, dict):
            raise PackageError(f"map '{meta.name}': stack_trace takes an object "
                                '({"field_map": {...}, "with_symbols": true})')
        field_map = spec.get("field_map") or {}
        if not isinstance(field_map, dict) or not all(
                role in ROLES and isinstance(name, str) for role, name in field_map.items()):
            raise PackageError(f"map '{meta.name}': stack_trace's field_map maps roles "
                                f"({', '.join(ROLES)}) to field names")
        with_symbols = spec.get("with_symbols", True)
        found[meta.name] = StackTrace({role: field_map.get(role, role) for role in ROLES},
                                      with_symbols is not False)
    return found
