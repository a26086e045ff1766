"""Media prewarm agents."""
