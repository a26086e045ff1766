"""Errors of the catalogue reader that the root tree does not have.

    PipelineError
    ├── RunGone                        run_gone          410
    └── BadCatalogue                   bad_catalogue     500

A cursor names the run it was made on; when the job's current run is another
one (a refresh replaced it, retention deleted it) the page cannot continue
without mixing two runs, so the client is told to start again.
"""

from __future__ import annotations

from pipeline.errors import PipelineError


class RunGone(PipelineError):
    code, http_status = "run_gone", 410


class BadCatalogue(PipelineError):
    """Stored catalogue objects that do not read as this format (a bug or damage)."""

    code = "bad_catalogue"
