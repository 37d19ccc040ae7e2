"""Bad configs give one clear line and start nothing; --check loads nothing; OTLP pushes
the same metrics (to a receiver in the test that decodes the protobuf)."""

from __future__ import annotations

import copy
import subprocess
import threading
from http.server import HTTPServer

import pytest

from tests.kernel.conftest import loaded_program_ids, wait_until
from tests.otel.conftest import otlp_handler

from .conftest import EXPORTER, write_config
from .test_exporter import open_file, opensnoop_program, unique_file


def run_exporter(*args, timeout=60):
    return subprocess.run([*EXPORTER, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=False)


def counter(**fields) -> dict:
    return {"name": "c", **fields}


BAD_PROGRAMS = [
    ({"name": "p"}, "programs[0] (p): give one of 'compiled_ebpf_filename' or 'ebpf_data'"),
    ({"name": "p", "compiled_ebpf_filename": "nope.json", "metrics": {}},
     "programs[0] (p): compiled_ebpf_filename: no file"),
    ({"name": "p", "ebpf_data": "{not a package", "metrics": {}}, "programs[0] (p): the package"),
    ({"name": "p", "PKG": 1, "args": ["--no-such-flag"], "metrics": {"counters": [counter()]}},
     "programs[0] (p): args: unrecognized arguments: --no-such-flag"),
    ({"name": "p", "PKG": 1, "metrics": {}}, "programs[0] (p): defines no metrics"),
    ({"name": "p", "PKG": 1, "metrics": {"counters": [counter(labels=[{"name": "x",
                                                                       "from": "fnam"}])]}},
     "metrics.counters[0] (c): labels[0]: from: no field 'fnam' in the event (ts, pid"),
    ({"name": "p", "PKG": 1, "metrics": {"counters": [counter(value="comm2")]}},
     "metrics.counters[0] (c): value: no field 'comm2'"),
    ({"name": "p", "PKG": 1, "metrics": {"counters": [counter(labels=[{
        "name": "pid", "decoders": [{"name": "rot13"}]}])]}},
     "labels[0]: unknown decoder"),
    ({"name": "p", "PKG": 1, "metrics": {"counters": [counter(labels=[{
        "name": "comm", "decoders": [{"name": "regexp", "regexp": "("}]}])]}},
     "labels[0]: regexp '(': missing )"),
    ({"name": "p", "PKG": 1, "metrics": {"counters": [{"name": "bad name"}]}},
     "metrics.counters[0] (bad name): name: 'bad name' is not a Prometheus metric name"),
    ({"name": "p", "PKG": 1, "metrics": {"gauges": [{"name": "g", "map": "events"}]}},
     "metrics.gauges[0] (g): 'map' must name a map (maps read at scrape time: start)"),
    ({"name": "p", "PKG": 1, "metrics": {"histograms": [{"name": "h", "value": "pid",
                                                        "buckets": [3, 1]}]}},
     "metrics.histograms[0] (h): buckets: explicit buckets must be increasing finite numbers"),
    ({"name": "p", "PKG": 1, "metrics": {"summaries": []}},
     "metrics: unknown key 'summaries'"),
    ({"name": "p", "PKG": 1, "args": ["--he"], "metrics": {"counters": [counter()]}},
     "args: --help is not available here"),
    ({"name": "p", "PKG": 1, "metrics": {"counters": [counter(labels=[{"name": "x",
                                                                       "from": ["a"]}])]}},
     "labels[0] (x): from: expected a string, got a list"),
    ({"name": "p", "PKG": 1, "metrics": {"gauges": [{"name": "g", "map": ["a"]}]}},
     "metrics.gauges[0] (g): map: expected a string, got a list"),
    # booleans are not numbers, here as in packages
    ({"name": "p", "PKG": 1, "metrics": {"counters": [counter(max_series=True)]}},
     "metrics.counters[0] (c): max_series: expected an integer, got a boolean"),
    ({"name": "p", "PKG": 1, "metrics": {"counters": [counter(max_series=0)]}},
     "metrics.counters[0] (c): max_series: Input should be greater than or equal to 1"),
    ({"name": "p", "PKG": 1, "metrics": {"counters": [counter(colour="red")]}},
     "metrics.counters[0] (c): unknown key 'colour'"),
    ({"name": "p", "PKG": 1, "metrics": {"counters": [counter(), {"name": "c_total"}]}},
     "metric 'c_total' writes 'c_total', as does a metric of program 'p'"),
    ({"name": "p", "PKG": 1, "metrics": {"counters": [{"name": "eunomia_exporter_events"}]}},
     "are the exporter's own"),
    ({"name": "p", "PKG": 1, "metrics": {"histograms": [{"name": "h", "value": "pid",
                                                        "labels": [{"name": "le"}]}]}},
     "the label name 'le' is reserved"),
    ({"name": "p", "PKG": 1, "metrics": {"histograms": [{"name": "h", "value": "pid",
                                                        "buckets": [1, float("inf")]}]}},
     "explicit buckets must be increasing finite numbers"),
    # numbers too large for a float, or for any sensible series count
    ({"name": "p", "PKG": 1, "metrics": {"histograms": [{"name": "h", "value": "pid",
                                                        "buckets": {"type": "linear",
                                                                    "start": 10 ** 400}}]}},
     "within +-2^63"),
    ({"name": "p", "PKG": 1, "metrics": {"histograms": [{"name": "h", "map": "m",
                                                        "slots": "slots", "type": "linear",
                                                        "base": 10 ** 400}]}},
     "base: Input should be less than or equal to"),
    ({"name": "p", "PKG": 1, "metrics": {"counters": [counter(max_series=10 ** 300)]}},
     "max_series: Input should be less than or equal to 10000000"),
]


@pytest.mark.parametrize(("program", "words"), BAD_PROGRAMS,
                         ids=[str(i) for i in range(len(BAD_PROGRAMS))])
def test_bad_config_names_file_program_and_field(packages, tmp_path, program, words):
    program = copy.deepcopy(program)
    if program.pop("PKG", None):
        program["compiled_ebpf_filename"] = str(packages["opensnoop"])
    config = write_config(tmp_path / "bad.yaml", [program])
    result = run_exporter("-c", config, "--check")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"eunomia-exporter: error: {config}: ")
    assert words in lines[0], lines[0]


def test_not_yaml_and_duplicate_metrics(packages, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("programs: [\n")
    result = run_exporter("-c", broken, "--check")
    assert result.returncode == 1 and "not YAML or JSON" in result.stderr
    twice = write_config(tmp_path / "twice.yaml", [opensnoop_program(packages)] * 2)
    result = run_exporter("-c", twice, "--check")
    assert ("metric 'test_file_open_counter' writes 'test_file_open_counter_total', as does a "
            "metric of program 'opensnoop'") in result.stderr


def test_check_loads_nothing_and_a_failing_program_starts_nothing(packages, tmp_path):
    from tests.cli.conftest import FIXTURES, compile_package
    rejected = compile_package(FIXTURES / "verifier_reject.bpf.c", tmp_path / "reject")
    good = opensnoop_program(packages)
    config = write_config(tmp_path / "config.yaml", [good, {
        "name": "rejected", "compiled_ebpf_filename": str(rejected),
        "metrics": {"gauges": [{"name": "g", "map": "counts"}]}}])
    before = loaded_program_ids({"tracepoint__syscalls__sys_enter_openat"})
    checked = run_exporter("-c", config, "--check")   # loading would meet the verifier
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == f"{config}: OK (2 program(s), 2 metric(s))"

    result = run_exporter("-c", config)
    assert result.returncode == 1
    assert "verifier" in result.stderr and "Traceback" not in result.stderr
    assert loaded_program_ids({"tracepoint__syscalls__sys_enter_openat"}) == before


METRIC_REQUESTS: list = []     # (path, ExportMetricsServiceRequest) received
OtlpReceiver = otlp_handler("metrics.v1.metrics_service_pb2.ExportMetricsServiceRequest",
                            lambda request, path: METRIC_REQUESTS.append((path, request)))


def otlp_counter(requests, metric_name: str, filename: str):
    for _, request in reversed(requests):
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != metric_name:
                        continue
                    for point in metric.sum.data_points:
                        attrs = {a.key: a.value.string_value for a in point.attributes}
                        if attrs.get("filename") == filename:
                            return point.as_double or point.as_int
    return None


def test_otlp_push(exporter, packages, tmp_path):
    receiver = HTTPServer(("127.0.0.1", 0), OtlpReceiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}/v1/metrics"
    try:
        path = unique_file(tmp_path)
        exporter(write_config(tmp_path / "config.yaml", [opensnoop_program(packages)]),
                 "--otlp", endpoint, "--otlp-interval", "0.5")
        open_file(path, 4)
        wait_until(lambda: otlp_counter(METRIC_REQUESTS, "test_file_open_counter",
                                        str(path)) == 4, 30, 0.1,
                   what="the OTLP push with the 4 opens")
        assert METRIC_REQUESTS[-1][0] == "/v1/metrics"
    finally:
        receiver.shutdown()
        receiver.server_close()

