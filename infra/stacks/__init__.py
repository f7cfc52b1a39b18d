"""One stack per deployable unit: stateful data, the training/deployment pipeline, monitoring."""
