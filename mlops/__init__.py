"""The `mlops` command: the local cloud and the demo that runs the whole lifecycle on it."""
