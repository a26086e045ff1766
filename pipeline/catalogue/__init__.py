"""Per-run playlist catalogue: grouped, paged, searchable, diffable (pure library).

    with CatalogueWriter(run_id, data_file, spill_dir) as writer:
        writer.add(items, encoded)          # per parser batch, playlist order
        writer.add_fields(lines, fields)    # or the parser's lines and catalogue fields
        index = writer.finish()             # data file written; dump_index(index)

    cat = Catalogue(load_index(index_bytes), read_range)   # async read_range
    cat.groups(); await cat.page(group, kind, q, limit, cursor); await cat.item(id)
    counts = await diff(old_cat, new_cat, write, spill_dir)

No Faust, network or clock: bytes come and go through parameters. The layout
and its reasons are in docs/catalogue.md.
"""

from pipeline.catalogue.diff import diff
from pipeline.catalogue.errors import BadCatalogue, RunGone
from pipeline.catalogue.identity import identity, make_id, strip_credentials
from pipeline.catalogue.layout import dump_index, load_index, object_keys
from pipeline.catalogue.reader import DEFAULT_LIMIT, MAX_LIMIT, Catalogue, ReadRange
from pipeline.catalogue.retention import objects_to_delete, runs_to_delete
from pipeline.catalogue.writer import CatalogueWriter

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "BadCatalogue",
    "Catalogue",
    "CatalogueWriter",
    "ReadRange",
    "RunGone",
    "diff",
    "dump_index",
    "identity",
    "load_index",
    "make_id",
    "object_keys",
    "objects_to_delete",
    "runs_to_delete",
    "strip_credentials",
]
