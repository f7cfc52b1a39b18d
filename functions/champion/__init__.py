"""The champion Lambda: which model (if any) the challenger must beat, and whether it is serving."""
