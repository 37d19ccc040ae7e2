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
    assert decode(b"abc\0junk") == "abc"
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
