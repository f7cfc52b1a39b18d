"""The register Lambda: every evaluated challenger becomes a Model Package with its lineage."""
