"""The champion Lambda: which model (if any) the challenger must beat: the one that serves."""
