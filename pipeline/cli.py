"""The `pipeline` command line."""

from __future__ import annotations

import sys

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Stream-processing pipeline: IPTV playlist parsing and media prewarm on Kafka."""


@main.command()
def up() -> None:
    """Start the embedded stack: Tansu broker, SeaweedFS S3 and a worker (Ctrl-C stops all).

    Parts whose settings point elsewhere (PIPELINE_BROKER, PIPELINE_S3_ENDPOINT)
    are not started. The embedded log lives only while this runs.
    """
    from pipeline.embedded.stack import run_stack

    sys.exit(run_stack())


@main.command()
def worker() -> None:
    """Run one pipeline worker (agents + web server) against the configured broker."""
    from faust.worker import Worker

    from pipeline.app import app, settings

    Worker(
        app,
        loglevel=settings.log_level,
        logging_config=dict(app.conf.logging_config),
        redirect_stdouts=False,
    ).execute_from_commandline()


def _register_optional() -> None:
    try:
        from pipeline.m3u.cli import m3u_command
    except ImportError:  # parser package not built yet
        return
    main.add_command(m3u_command)


_register_optional()

if __name__ == "__main__":
    main()
