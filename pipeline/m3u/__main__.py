"""``python -m pipeline.m3u FILE``: the ``m3u`` command on its own."""

from pipeline.m3u.cli import m3u_command

if __name__ == "__main__":
    m3u_command(prog_name="python -m pipeline.m3u")
