"""Lambda handlers of the pipeline: one package per function, thin handlers over typed logic modules."""
