"""Label decoders, one by one and chained (pure: no kernel)."""

from __future__ import annotations

import pytest

from eunomia.exporter.decoders import DecoderError, Drop, decoder_chain
from eunomia.output.formats import syscall_names


def chain(*configs, size=4):
    return decoder_chain(list(configs), size)


def test_plain_text_without_decoders():
    decode = chain()
    assert decode("bash") == "bash"
    assert decode(42) == "42"
    assert decode(b"abc\0junk") == "61626300" + b"junk".hex()   # u8[N] is data: hex
    assert decode([1, 2]) == "1,2"


def test_string_uint_errno():
    assert chain("string")([104, 105, 0, 33]) == "hi"
    assert chain("uint", size=4)(-1) == "4294967295"
    assert chain("uint", size=8)(-2) == str(2**64 - 2)
    assert chain("errno")(-2) == "ENOENT"
    assert chain("errno")(13) == "EACCES"
    assert chain("errno")(0) == "0"


def test_syscall_names_from_the_uapi_header():
    names = syscall_names()
    if not names:
        pytest.skip("no asm/unistd header for this architecture here")
    number = {name: nr for nr, name in names.items()}["openat"]
    assert chain("syscall")(number) == "openat"
    assert chain("syscall")(99999) == "99999"


def test_static_map_and_default():
    assert chain({"name": "static_map", "static_map": {1: "one"}})(1) == "one"
    assert chain({"name": "static_map", "static_map": {1: "one"}})(2) == "2"
    assert chain({"name": "static_map", "static_map": {1: "one"}, "default": "other"})(2) \
        == "other"


def test_regexp_keeps_group_or_drops():
    decode = chain({"name": "regexp", "regexp": r"^/etc/(\w+)"})
    assert decode("/etc/passwd") == "passwd"
    with pytest.raises(Drop):
        decode("/tmp/x")
    assert chain({"name": "regexp", "regexp": "^-"}, "errno")(-2) == "ENOENT"


def test_inet_ip():
    # 127.0.0.1 as the kernel keeps a __be32, read back as a little-endian u32
    assert chain("inet_ip")(0x0100007F) == "127.0.0.1"
    assert chain("inet_ip")([192, 168, 1, 2]) == "192.168.1.2"
    assert chain("inet_ip")([0] * 15 + [1]) == "::1"


def test_ksym_resolves_a_kernel_symbol():
    from eunomia.symbols import KernelSymbols
    symbols = KernelSymbols()
    address = symbols.address_of("do_sys_openat2") or symbols.address_of("vfs_read")
    if not address:
        pytest.skip("kallsyms hides addresses here (needs root)")
    assert chain("ksym")(address + 1) in ("do_sys_openat2", "vfs_read")


@pytest.mark.parametrize("config", [{"name": "rot13"}, {"name": "regexp"},
                                    {"name": "regexp", "regexp": "("},
                                    {"name": "static_map"}, 7])
def test_bad_decoder_configs(config):
    with pytest.raises(DecoderError):
        decoder_chain([config], 4)


def test_otlp_histograms_send_only_what_is_known():
    """An event histogram knows its sum, min and max; a map's log2 slots know none of
    them: OTLP leaves those out instead of sending 0."""
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

    from eunomia.exporter.metrics import EventHistogram, HistogramPoint, Snapshot
    from eunomia.exporter.otlp import metrics_data

    class Named:
        name, description, labels = "lifetime", "how long", ()
    events = EventHistogram(10, [1.0, 10.0, 100.0])
    for value in (3.0, 0.5, 42.0):
        events.observe((), value)
    slots = Snapshot("histogram", "slots", "a map", (),
                     [((), HistogramPoint([1.0, 3.0], [2, 1, 0], None, 3))])
    request = encode_metrics(metrics_data([events.snapshot(Named()), slots], 0))
    metrics = {m.name: m.histogram.data_points[0]
               for m in request.resource_metrics[0].scope_metrics[0].metrics}
    known = metrics["lifetime"]
    assert (known.sum, known.min, known.max, known.count) == (45.5, 0.5, 42.0, 3)
    unknown = metrics["slots"]
    assert not unknown.HasField("sum") and not unknown.HasField("min") and \
        not unknown.HasField("max")
    assert list(unknown.bucket_counts) == [2, 1, 0]


def test_byte_array_labels_are_hex_unless_read_as_text():
    """Map keys of u8[16] (addresses) must stay distinct as labels: hex by default; the
    `string` decoder reads bytes as text."""
    from eunomia.exporter.decoders import DECODERS, plain_text
    assert plain_text(bytes(15) + b"\x01") != plain_text(bytes(15) + b"\x02")
    assert plain_text(b"\x7f\x00\x00\x01") == "7f000001"
    assert DECODERS["string"]({}, 16)(b"bash\0\0\0") == "bash"


def test_the_text_format_reads_byte_arrays_and_leaves_text_alone():
    import types

    from eunomia.decode.codecs import BytesCodec, CharArrayCodec
    from eunomia.output.formats import field_formats
    record = types.SimpleNamespace(fields=[
        ("comm", "char[16]", CharArrayCodec("char[16]", 16)),
        ("buf", "unsigned char[8]", BytesCodec("unsigned char[8]", 8))])
    shows = field_formats(record, {"comm": "text", "buf": "text"})
    assert shows["comm"]("cafe") == "cafe"                 # text that looks like hex
    assert shows["buf"](b"GET /\0\0\0".hex()) == "GET /"
