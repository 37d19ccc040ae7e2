"""RunSettings: what one run of a package is asked to do. `RunSettings()` is a run given
no words at all (`ecli run PACKAGE`), which needs no parser: session.flags turns words
into the others."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..attach_plan import AttachOptions
from ..defaults import DEFAULT_QUEUE_BYTES
from ..output.settings import OutputSettings
from ..valueclass import field, valueclass

if TYPE_CHECKING:
    from ..output.lines import LinePrinter

DEFAULT_STOP_BOUND = 5.0    # seconds writing what is left at a stop may take


@valueclass
class RunSettings:
    """What one run of a package is asked to do: the values of its global variables,
    where its programs attach, how its records are read, and how they are shown
    (`output`)."""

    values: dict[str, Any] = field(default_factory=dict)
    attach: AttachOptions = field(default_factory=AttachOptions)
    output: OutputSettings = field(default_factory=OutputSettings)
    duration: float | None = None
    trace: bool = False
    verbose: bool = False
    queue_bytes: int = DEFAULT_QUEUE_BYTES
    stop_bound: float = DEFAULT_STOP_BOUND
    record_types: dict[str, str] = field(default_factory=dict)    # event map -> struct
    btf: str | None = None          # --btf: kernel BTF for kernels without their own
    otlp_logs: str | None = None    # --otlp-logs URL
    otlp_body: str | None = None    # --otlp-body TEMPLATE
    otlp_severity_field: str | None = None

    def printer(self, package) -> LinePrinter:
        """The run's printer, checked against `package`'s records (see OutputSettings),
        and the OTLP log settings with it."""
        printer = self.output.printer(package, self.record_types)
        if self.otlp_logs:
            from ..events import record_specs
            from ..output.otlp_logs import check_settings
            check_settings(self.otlp_logs, self.otlp_body, self.otlp_severity_field,
                           printer, record_specs(package, self.record_types))
        return printer

    def log_printer(self, package) -> LinePrinter:
        """The printer whose lines and values the OTLP log records carry."""
        return self.output.replace(header=False).printer(package, self.record_types)
