"""What every handler shares: observability, configuration, AWS clients, S3 helpers and errors."""
