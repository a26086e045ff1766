"""The embedded dev stack: Tansu broker, SeaweedFS S3 and a worker, supervised."""
