"""Playlist parsing: pure rules, the per-worker queue, the process pool and the service."""
