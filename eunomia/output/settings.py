"""OutputSettings: how a run shows its records and samples (--output, --json, --stacks,
--no-header, --format, --fields, --filter, --sort, --top) and which containers' records
it keeps (--container, --k8s-*, output.containers). Every front end builds its
printer here, so every front end checks these settings the same way, against the
package's record types, before anything is loaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..containers.model import ContainerSelection
from ..valueclass import field, replace, valueclass

if TYPE_CHECKING:
    from .lines import LinePrinter

# The printer's modules (formats, lines, records, containers, stack traces) load when a
# printer is made: `ecli run` reads its flags into these settings before it starts the
# kernel's load, and imports them while the kernel verifies (cli/run.py).


@valueclass(frozen=True)
class OutputSettings:
    """How records are shown: every output flag of a run, in one value."""

    output: str = "table"                   # one of lines.OUTPUTS
    header: bool = True                     # False: --no-header
    formats: dict[str, str] = field(default_factory=dict)      # --format: field -> type
    fields: tuple[str, ...] | None = None   # --fields
    filters: tuple = ()                     # --filter conditions (output.filters)
    sort: str | None = None                 # --sort (sampled maps)
    top: int | None = None                  # --top (sampled maps)
    containers: ContainerSelection = field(default_factory=ContainerSelection)
    runtime_sockets: dict[str, str] = field(default_factory=dict)  # --runtime-socket
    kubeconfig: str | None = None           # --kubeconfig (pod labels)

    def container_map(self):
        """The process's ContainerMap for these runtime sockets and kubeconfig."""
        from ..containers import shared_map
        return shared_map(self.runtime_sockets, self.kubeconfig)

    def replace(self, **changes) -> OutputSettings:
        return replace(self, **changes)

    def printer(self, package, record_types: dict[str, str] | None = None) -> LinePrinter:
        """A LinePrinter for `package`'s records (`record_types`: --record-type), checked
        now: an ArgumentError names a --format, --fields or --filter field that no record
        has, an unknown format, or --stacks folded without a stack field. Reads only the
        package: nothing is loaded yet."""
        from ..events import record_specs
        from .formats import member_formats
        from .lines import LinePrinter
        from .stack_trace import stack_traces
        header = self.header and package.meta.print_header is not False
        printer = LinePrinter(self.output, header, self.formats, self.fields, self.filters)
        printer.type_formats = member_formats(package)
        printer.sort, printer.top = self.sort, self.top
        printer.selection, printer.container_source = self.containers, self.container_map
        printer.kernel_filter = has_container_filter(package)
        printer.stack_traces = stack_traces(package)
        printer.check(record_specs(package, record_types))
        return printer


# the map <eunomia/containers.bpf.h> defines: mount namespaces a program keeps records of
CONTAINER_FILTER_MAP = "eunomia_mntns_filter"


def has_container_filter(package) -> bool:
    """Whether the package's programs filter containers in the kernel (they include
    <eunomia/containers.bpf.h>)."""
    from ..btf.maps import defined_maps
    return any(m.name == CONTAINER_FILTER_MAP for m in defined_maps(package.btf()))
