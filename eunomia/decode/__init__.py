"""Bytes <-> Python values, compiled once per BTF type."""

from .codecs import Codec, compile_codec
from .record import Record

__all__ = ["Codec", "Record", "compile_codec"]
