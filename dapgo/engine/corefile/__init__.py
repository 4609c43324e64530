"""Core files: reading an ELF core as a read-only program (`CoreProcess`) and writing one of
a stopped live program (`write_core`, the `dapgo dump` command)."""

from .process import CoreProcess
from .writer import write_core

__all__ = ["CoreProcess", "write_core"]
