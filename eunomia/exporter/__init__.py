"""eunomia-exporter: any package's events and maps as Prometheus / OpenTelemetry metrics,
configured as eunomia-bpf's exporter is (see docs/exporter.md).

    from eunomia.exporter import Exporter, load_config
    exporter = Exporter()
    exporter.start_all(load_config("examples/exporter/opensnoop.yaml").programs)
"""

from .config import ConfigError, ExporterConfig, ProgramConfig, load_config, parse_program
from .exporter import Exporter, UnknownProgramError

__all__ = ["ConfigError", "Exporter", "ExporterConfig", "ProgramConfig",
           "UnknownProgramError", "load_config", "parse_program"]
