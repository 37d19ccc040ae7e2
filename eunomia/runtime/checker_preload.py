"""Imported only by the fork server of runtime.untrusted: loads libbpf there once, so
that each checking child starts with it (instead of a dlopen and ~70 prototypes each)."""

from .. import _libbpf
from ..errors import EunomiaError

try:
    _libbpf.lib.version()      # loads it (the property), and asks its version
except EunomiaError:
    pass            # no libbpf here: each check will say so
