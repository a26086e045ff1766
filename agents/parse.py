"""Playlist parsing agents."""
