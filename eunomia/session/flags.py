"""The flags of one run of a package, parsed the same way for every front end (`ecli
run`, a server task's extra_args, an exporter program's args): the run options (output,
duration, where to attach, queue size) and a flag per global variable of the package
(`ecli run pkg.json --targ_pid 42`).

A variable's long name is `cmdarg.long` or the variable's name; short: `cmdarg.short`;
help: `cmdarg.help`, else the doc comment, else the C type. A flag that is not given keeps
the value compiled into the object (or `cmdarg.default` when the source asks for one).

Nothing here prints or exits: `--help` raises HelpRequested with the text, and a bad
flag raises ArgumentError.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from typing import Any

from ..attach_plan import AttachOptions
from ..defaults import DEFAULT_QUEUE_BYTES
from ..errors import ArgumentError, DecodeError
from ..flagparser import FlagParser, HelpRequested
from ..kinds import TRACE_PIPE
from ..logs import Logger
from ..output.settings import OutputSettings
from ..variables import global_variables
from .settings import DEFAULT_STOP_BOUND, RunSettings

log = Logger("eunomia.flags")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(i?b?)\s*$", re.IGNORECASE)


def parse_quietly(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace:
    """parse_args for services (the server, the exporter): --help, -h or a prefix of
    them is an error here, not text on the service's stdout."""
    try:
        return parser.parse_args(args)
    except HelpRequested:
        raise ArgumentError("--help is not available here: give the program's flags "
                            "only") from None


MAX_QUEUE_BYTES = 64 << 30


def parse_size(text: str) -> int:
    """Bytes from "16M", "64MiB", "512k", "1g" or a plain number."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a size such as 16M or 65536, not "
                                          f"'{text}'")
    number, unit = float(match.group(1)), match.group(2).lower()
    size = number * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit]
    if not size <= MAX_QUEUE_BYTES:       # also inf and nan (400 digits)
        raise argparse.ArgumentTypeError(f"{text[:40]} is too large: give at most "
                                          f"{MAX_QUEUE_BYTES >> 30}g")
    if size < 4096:
        raise argparse.ArgumentTypeError(f"{text} is too small: give at least 4k")
    return int(size)


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not '{text}'") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not "
                                          f"'{text}'")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, not '{text}'")
    return value


def _pairs(what: str):
    """A converter of "a=b,c=d" into {a: b, c: d}; `what` names the form in errors."""
    def convert(text: str) -> dict[str, str]:
        chosen = {}
        for item in text.split(","):
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise argparse.ArgumentTypeError(f"expected {what}, not '{item}'")
            chosen[key.strip()] = value.strip()
        return chosen
    return convert


_record_types = _pairs("MAP=STRUCT")


def _condition(text: str):
    from ..output.filters import parse_condition
    try:
        return parse_condition(text)
    except ArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected field names, e.g. pid,comm")
    return names


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of a run that are not the program's own flags."""
    parser.add_argument("-j", "--json", action="store_true",
                        help="print one JSON object per event instead of a table")
    parser.add_argument("--duration", type=_duration, metavar="SEC",
                        help="stop after SEC seconds (default: run until Ctrl-C)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show libbpf's log and the whole verifier log on errors")
    parser.add_argument("--trace", action="store_true",
                        help=f"also follow bpf_printk output ({TRACE_PIPE})")
    parser.add_argument("--no-header", action="store_true", help="omit the table header")
    parser.add_argument("--queue-size", type=parse_size, default=DEFAULT_QUEUE_BYTES,
                        metavar="SIZE",
                        help="records of one event map held in memory while the output "
                             "catches up, e.g. 64M (default 32M); past it records are "
                             "dropped and counted on stderr")
    parser.add_argument("--record-type", action="append", default=[], metavar="MAP=STRUCT",
                        type=_record_types,
                        help="decode the records of event map MAP as STRUCT (a struct of "
                             "the object's BTF); repeatable, or comma-separated")
    parser.add_argument("--format", action="append", default=[], metavar="FIELD=TYPE",
                        type=_pairs("FIELD=TYPE"),
                        help="show FIELD as TYPE: ip, endpoint, errno, ret, signal, syscall, "
                             "ksym, kstack, ustack, timestamp, duration, uid, gid, hex, "
                             "cgroup, mntns, text (repeatable, or comma-separated; fields "
                             "typed in the source need none: docs/formats.md)")
    parser.add_argument("--fields", type=_names, metavar="A,B,...",
                        help="show only these fields of each record, in this order")
    parser.add_argument("--filter", action="append", default=[], metavar="COND",
                        type=_condition,
                        help="keep records where COND holds, e.g. 'comm==sh', 'ret<0', "
                             "'fname~^/etc' (==, !=, <, >, <=, >=, ~ regex; a number "
                             "compares with the field's number, other text with its "
                             "readable form; repeatable: all must hold). FIELD==N also sets "
                             "a global FIELD or targ_FIELD, FIELD>N min_FIELD, FIELD<N "
                             "max_FIELD, so the kernel filters too")
    parser.add_argument("-o", "--output", choices=("table", "json", "yaml", "csv"),
                        help="output format (default table; --json is --output json)")
    parser.add_argument("--sort", metavar="FIELD",
                        help="sampled maps: entries by FIELD of their value (or key), "
                             "largest first")
    parser.add_argument("--top", type=_positive_int, metavar="N",
                        help="sampled maps: only the first N entries of each sample")
    parser.add_argument("--stacks", choices=("folded",),
                        help="folded: one collapsed stack per record (comm;root;...;leaf "
                             "1), for flame graphs")
    parser.add_argument("--btf", metavar="PATH",
                        help="kernel BTF to relocate against, for kernels without "
                             "/sys/kernel/btf/vmlinux: a BTF file, a directory laid out as "
                             "BTFHub's archive, or a tar of one (picked by os-release and "
                             "uname -r)")
    parser.add_argument("--stop-timeout", type=_duration, default=DEFAULT_STOP_BOUND,
                        metavar="SEC",
                        help="at a stop, how long writing the records already sent may "
                             "take before the rest is abandoned (default 5; a second "
                             "Ctrl-C abandons at once)")
    add_container_options(parser)
    logs = parser.add_argument_group("OpenTelemetry logs (docs/otel.md)")
    logs.add_argument("--otlp-logs", metavar="URL",
                      help="also send every record as a log record over OTLP/HTTP, e.g. "
                           "http://127.0.0.1:4318/v1/logs (a slow or dead collector never "
                           "holds the run up: what cannot be sent is dropped and counted)")
    logs.add_argument("--otlp-body", metavar="TEMPLATE",
                      help="the log body, e.g. '{comm} exited with {exit_code}' (default: "
                           "the line the run prints)")
    logs.add_argument("--otlp-severity-field", metavar="FIELD",
                      help="take the severity from FIELD (a name such as warn, or 1-24); "
                           "default INFO")
    hooks = parser.add_argument_group("where to attach (overrides the package's annotations)")
    hooks.add_argument("--ifname", metavar="IF", help="interface for XDP and tc programs "
                       "(default: lo)")
    hooks.add_argument("--pid", type=_positive_int, metavar="PID",
                       help="process for uprobes (default: every process)")
    hooks.add_argument("--binary", metavar="PATH", help="binary for uprobes that name none")
    hooks.add_argument("--sample-freq", type=_positive_int, metavar="HZ",
                       help="frequency of perf_event programs (default: 49)")


def _label_pairs(text: str) -> list[tuple[str, str]]:
    return list(_pairs("KEY=VALUE")(text).items())


def _socket(text: str) -> tuple[str, str]:
    from ..containers import RUNTIMES
    runtime, sep, path = text.partition("=")
    if not sep or runtime not in RUNTIMES:
        raise argparse.ArgumentTypeError(f"expected RUNTIME=PATH with RUNTIME one of "
                                          f"{', '.join(RUNTIMES)}, not '{text[:80]}'")
    return runtime, path


def add_container_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "containers (records with a mount-namespace or cgroup field get container, pod "
        "and namespace: docs/containers.md)")
    group.add_argument("--container", action="append", default=[], metavar="NAME",
                       help="only records of containers named NAME (a glob, or an ID's "
                            "first characters); repeatable: any of them")
    group.add_argument("--k8s-namespace", action="append", default=[], metavar="NS",
                       help="only records of pods in Kubernetes namespace NS (a glob; "
                            "repeatable)")
    group.add_argument("--k8s-pod", action="append", default=[], metavar="NAME",
                       help="only records of pod NAME (a glob; repeatable)")
    group.add_argument("--k8s-selector", action="append", default=[], metavar="K=V,...",
                       type=_label_pairs,
                       help="only records of containers whose labels have every K=V")
    group.add_argument("--runtime-socket", action="append", default=[],
                       metavar="RUNTIME=PATH", type=_socket,
                       help="where a runtime's API listens (podman, docker, crio; "
                            "defaults: /run/podman/podman.sock, /run/docker.sock, "
                            "/var/run/crio/crio.sock); an empty PATH leaves it out")
    group.add_argument("--kubeconfig", metavar="PATH",
                       help="where pod labels come from, for --k8s-selector (default: the "
                            "service account in a pod, else $KUBECONFIG)")


def container_selection(args: argparse.Namespace):
    from ..containers import ContainerSelection
    return ContainerSelection(
        names=tuple(args.container), namespaces=tuple(args.k8s_namespace),
        pods=tuple(args.k8s_pod),
        selector=tuple(pair for pairs in args.k8s_selector for pair in pairs))


def program_parser(package, prog: str | None = None) -> tuple[FlagParser, dict[str, str]]:
    """The parser for `ecli run PACKAGE ...` (or `prog ...`): run options plus the
    package's own flags, and {argparse dest: variable name}."""
    doc = package.meta.bpf_skel.doc
    name = package.meta.bpf_skel.obj_name or "program"
    description = (getattr(doc, "brief", None) or getattr(doc, "description", None)
                   or f"the eBPF program '{name}'")
    epilog_parts = [getattr(doc, "details", None) or ""]
    if getattr(doc, "version", None):
        epilog_parts.append(f"version {doc.version}")
    parser = FlagParser(prog=prog or f"ecli run {name}", description=description,
                        epilog="\n\n".join(p for p in epilog_parts if p) or None,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(parser)
    dests = add_program_flags(parser, global_variables(package))
    return parser, dests


# Options whose value is a path on the machine that runs the program
LOCAL_PATH_OPTIONS = ("--btf", "--binary", "--runtime-socket", "--kubeconfig")


def parse_run_args(package, argv: list[str], service: bool = False,
                   prog: str | None = None, remote: bool = False) -> RunSettings:
    """RunSettings from command-line words. A service (`service=True`) refuses --help;
    otherwise --help raises HelpRequested with the program's own help. Words from a
    remote client (`remote=True`: a server's API, the fleet) may not name paths on the
    machine that runs them (--btf, --binary): their answers would tell the client which
    files exist there, and a FIFO or device could stall the service."""
    parser, dests = program_parser(package, prog)
    args = parse_quietly(parser, argv) if service else parser.parse_args(argv)
    given = [option for option, value in (("--btf", args.btf), ("--binary", args.binary),
                                          ("--runtime-socket", args.runtime_socket),
                                          ("--kubeconfig", args.kubeconfig))
             if value is not None and value != []]
    if remote and given:
        option = given[0]
        raise ArgumentError(f"{option} names a path on the server: not available to remote "
                            "clients (a tar package from `ecc --btfgen` carries BTF; a "
                            "uprobe's binary goes in the package's /// @binary)")
    if args.kubeconfig is not None:
        _check_kubeconfig(args.kubeconfig)
    values = chosen_values(args, dests)
    _push_filters(args.filter, values, dests, parser)
    return RunSettings(
        values=values,
        attach=AttachOptions(ifname=args.ifname, pid=args.pid, binary=args.binary,
                             sample_freq=args.sample_freq),
        output=OutputSettings(
            output="folded" if args.stacks else args.output or ("json" if args.json
                                                               else "table"),
            header=not args.no_header,
            formats={k: v for chosen in args.format for k, v in chosen.items()},
            fields=tuple(args.fields) if args.fields else None,
            filters=tuple(args.filter), sort=args.sort, top=args.top,
            containers=container_selection(args), runtime_sockets=dict(args.runtime_socket),
            kubeconfig=args.kubeconfig),
        duration=args.duration, trace=args.trace, verbose=args.verbose,
        queue_bytes=args.queue_size, stop_bound=args.stop_timeout,
        record_types={k: v for chosen in args.record_type for k, v in chosen.items()},
        btf=args.btf, otlp_logs=args.otlp_logs, otlp_body=args.otlp_body,
        otlp_severity_field=args.otlp_severity_field)


def _check_kubeconfig(path: str) -> None:
    """A kubeconfig given is read at the start, so a mistake in it is one error then
    rather than a warning at the first pod (or never)."""
    from ..containers.kubernetes import KubeConfigError, from_kubeconfig
    try:
        from_kubeconfig(path)
    except KubeConfigError as exc:
        raise ArgumentError(f"--kubeconfig: {exc}") from None


def _converter(var):
    """Turns flag text into a value the variable's codec accepts, checking it fully."""
    def convert(text: str) -> Any:
        if var.kind == "bool":
            lowered = text.lower()
            if lowered not in _TRUE | _FALSE:
                raise argparse.ArgumentTypeError(f"expected true or false, not '{text}'")
            value: Any = lowered in _TRUE
        elif var.kind == "int":
            try:
                value = int(text, 0)
            except ValueError:
                if not (var.size == 1 and "char" in var.c_type and len(text) == 1):
                    raise argparse.ArgumentTypeError(
                        f"expected an integer, not '{text}'") from None
                value = text    # a char given as one character

        elif var.kind == "float":
            try:
                value = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected a number, not '{text}'") from None
        elif var.kind == "enum":
            try:
                value = int(text, 0)
            except ValueError:
                value = text
        elif var.kind == "string":
            value = text
        else:
            try:
                value = json.loads(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected a JSON value, not '{text}'") from None
        try:
            var.codec.encode(value)
        except DecodeError as exc:
            raise argparse.ArgumentTypeError(f"{exc} ({var.c_type})") from None
        return value
    return convert


def _shown(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex() or '""'
    return json.dumps(value) if isinstance(value, (str, list, dict)) else str(value)


_FLAG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _flag_names(parser: argparse.ArgumentParser, var) -> tuple[list[str], list[str]]:
    """The option strings of a variable's flag, and notes for its help. A name that is
    taken already (one of ecli's own options, -h, or another variable's) gives way:
    the long flag becomes --var.NAME, a short one is left out; the help says so."""
    taken = parser._option_string_actions       # argparse's table of every option string
    wanted = str(getattr(var.cmdarg, "long", None) or var.name)
    notes = []
    long_flag = f"--{wanted}"
    if long_flag in taken or not _FLAG_NAME.match(wanted):
        long_flag = f"--var.{var.name}"
        notes.append(f"--{wanted} is taken: set it with {long_flag}")
        if long_flag in taken:
            raise ArgumentError(f"the package has two variables named '{var.name}'")
    names = [long_flag]
    short = getattr(var.cmdarg, "short", None)
    if short:
        short_flag = f"-{short}"
        if short_flag in taken or len(str(short)) != 1 or not str(short).isalnum():
            notes.append(f"{short_flag} is taken or not a letter: no short flag")
            # said once at start too: a user typing -h for it would get ecli's help
            log.warning("the package asks for %r as the short flag of %r, which is "
                        "taken or not a letter: use %s", short_flag[:20], var.name,
                        long_flag)
        else:
            names.insert(0, short_flag)
    return names, notes


def _add_switches(parser, group, long_flag: str, dest: str, default, wanted: set) -> str:
    """eunomia-bpf's switches for a bool: --enable-NAME sets it, --disable-NAME clears
    it. Left out where the name is taken, or wanted by another variable's own flag
    (an explicit name beats an alias). Returns the note for the flag's help."""
    if long_flag.startswith("--var."):
        return ""
    added = []
    for prefix, value in (("enable", True), ("disable", False)):
        switch = f"--{prefix}-{long_flag[2:]}"
        if switch not in parser._option_string_actions and switch not in wanted:
            # the same default as the flag: argparse takes a dest's first default
            group.add_argument(switch, dest=dest, action="store_const", const=value,
                               default=default, help=argparse.SUPPRESS)
            added.append(switch)
    return f"; {' and '.join(added)} as in eunomia-bpf" if added else ""


def add_program_flags(parser: argparse.ArgumentParser, variables) -> dict[str, str]:
    """Adds a flag per variable; returns {argparse dest: variable name}."""
    dests = {}
    group = parser.add_argument_group("program flags (from the package's global variables)")
    variables = list(variables)
    wanted = {f"--{getattr(v.cmdarg, 'long', None) or v.name}" for v in variables}
    for var in variables:
        cmdarg = var.cmdarg
        names, notes = _flag_names(parser, var)
        help_text = (getattr(cmdarg, "help", None) or var.description or "").strip()
        default = getattr(cmdarg, "default", None)
        shown_default = default if default is not None else var.compiled_value
        details = "; ".join([f"{var.c_type}, default {_shown(shown_default)}", *notes])
        help_text = f"{help_text} ({details})" if help_text else details
        help_text = help_text.replace("%", "%%")    # argparse %-formats help text
        dest = f"var_{var.name}"
        dests[dest] = var.name
        if var.kind == "bool":
            switches = _add_switches(parser, group, names[-1], dest, default, wanted)
            group.add_argument(*names, dest=dest, nargs="?", const=True, default=default,
                               type=_converter(var), metavar="BOOL",
                               help=help_text + "; a bare flag means true" + switches)
        else:
            metavar = {"int": "N", "float": "X", "string": "TEXT", "enum": "NAME"}.get(
                var.kind, "JSON")
            group.add_argument(*names, dest=dest, default=default, type=_converter(var),
                               metavar=metavar, help=help_text)
    return dests


# the globals a filter sets, by operator: libbpf-tools name them targ_pid, min_us, ...
_PUSHED_GLOBALS = {"==": ("{}", "targ_{}"), ">": ("min_{}", "targ_min_{}"),
                   ">=": ("min_{}", "targ_min_{}"), "<": ("max_{}", "targ_max_{}"),
                   "<=": ("max_{}", "targ_max_{}")}


def _push_filters(conditions, values: dict, dests: dict[str, str], parser) -> None:
    """A filter also sets the matching global when the command line left it alone, so
    the kernel sends only what it keeps: FIELD==N sets FIELD or targ_FIELD, FIELD>N and
    FIELD>=N set min_FIELD (or targ_min_FIELD), FIELD<N and FIELD<=N max_FIELD. A min or
    max bound is inclusive in the kernel; the filter, still run in user space, drops
    the bound itself for > and <."""
    actions = {action.dest: action for action in parser._actions}
    for condition in conditions:
        patterns = _PUSHED_GLOBALS.get(condition.op, ())
        for name in (pattern.format(condition.field) for pattern in patterns):
            dest = f"var_{name}"
            if dest in dests and name not in values:
                try:
                    values[name] = actions[dest].type(condition.text)
                except (argparse.ArgumentTypeError, ValueError, TypeError):
                    pass        # not a value of that global: user-space filtering only
                break


def chosen_values(namespace: argparse.Namespace, dests: dict[str, str]) -> dict[str, Any]:
    """The values the user gave (or the source's defaults), by variable name."""
    values = {}
    for dest, name in dests.items():
        value = getattr(namespace, dest)
        if value is not None:
            values[name] = value
    return values
