"""The catalogue builder process: ``python -m pipeline.catalogue_builder RUN DATA SPILL``.

Reads frames of NDJSON lines and their catalogue fields on stdin (written by
``pipeline.catalogue_job.CatalogueBuild``), writes the run's data file, prints
the index on stdout. It imports the catalogue library only: one builder starts
per parse run, and the settings, S3 and HTTP modules would cost it about a
second of CPU before its first frame.
"""

from __future__ import annotations

import gc
import os
import struct
import sys
from collections.abc import Iterator
from typing import BinaryIO

from pipeline.catalogue import CatalogueWriter, dump_index
from pipeline.deathsig import die_with_parent

# A frame on the builder's stdin: the byte lengths of the NDJSON lines and of their
# catalogue fields (M3UParser.take_fields), then those two.
FRAME = struct.Struct("<II")


class Truncated(Exception):
    """The builder's input ended inside a frame: the parse child is gone."""


def read_frames(stream: BinaryIO) -> Iterator[tuple[bytes, bytes]]:
    """``(lines, fields)`` of each frame on a binary stream, until its end."""
    while head := stream.read(FRAME.size):
        sizes = FRAME.unpack(head) if len(head) == FRAME.size else (0, 0)
        lines, fields = stream.read(sizes[0]), stream.read(sizes[1])
        if not lines or len(lines) != sizes[0] or len(fields) != sizes[1]:
            raise Truncated
        yield lines, fields


def build_main(run_id: str, data_path: str, spill_dir: str) -> None:
    """The builder process: frames on stdin, data file written, index on stdout."""
    # The writer makes no reference cycles: the cyclic GC would only scan its many
    # young objects again and again (about a tenth of the builder's time).
    gc.disable()
    with open(data_path, "wb") as out, CatalogueWriter(run_id, out, spill_dir) as writer:
        for lines, fields in read_frames(sys.stdin.buffer):
            writer.add_fields(lines, fields)
        index = writer.finish()
    sys.stdout.buffer.write(dump_index(index))


if __name__ == "__main__":
    # A parse child killed by the pool (memory cap, cancel) must not leave its
    # builder running: the kernel sends SIGKILL when the child goes.
    die_with_parent()
    try:
        build_main(*sys.argv[1:4])
    except (Truncated, BrokenPipeError):
        # The parse child was killed (a cancel, the memory cap) or failed: nobody
        # reads this process's output any more, and the worker's log is JSON only.
        os._exit(2)
