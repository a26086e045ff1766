"""pipeline: IPTV playlist parsing and media prewarm on a Kafka-compatible log."""
