"""Bytes <-> Python values, compiled once per BTF type."""

from .build import compile_codec
from .codecs import Codec, UntypedRecordCodec
from .record import Record

__all__ = ["Codec", "Record", "UntypedRecordCodec", "compile_codec"]
