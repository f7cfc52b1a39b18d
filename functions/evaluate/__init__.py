"""The evaluate Lambda: the quality gate between a trained challenger and the registry."""
