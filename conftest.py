"""Repository root marker: makes the project packages importable when pytest runs from the root."""
