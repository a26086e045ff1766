"""HTTP API served by the Faust web server."""
