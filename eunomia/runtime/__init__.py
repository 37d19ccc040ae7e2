"""Live kernel objects: BpfObject, BpfProgram, BpfMap, Link and the event readers."""

from .link import Link
from .maps import BpfMap
from .object import BpfObject
from .perfbuf import PerfBufferReader
from .program import BpfProgram
from .ringbuf import RingBufferReader

__all__ = ["BpfMap", "BpfObject", "BpfProgram", "Link", "PerfBufferReader",
           "RingBufferReader"]
