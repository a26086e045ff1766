"""Defaults shared by the parser, its writers and the ``m3u`` command.

A module of its own so that ``pipeline m3u --help`` shows them without
importing the parser.
"""

MAX_LINE_BYTES = 64 * 1024  # longer lines are skipped and counted
CHUNK_BYTES = 64 * 1024  # read size of the file entry points
DEFAULT_LEVEL = 1  # gzip level of NDJSON output
