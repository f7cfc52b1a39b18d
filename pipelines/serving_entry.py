"""SageMaker serving entry point, shipped as `inference.py` at the root of the source archive.

The scikit-learn serving container imports `SAGEMAKER_PROGRAM` as a top-level module name, so a
program inside a package (`pipelines/inference.py`) cannot be named there. This module is copied
to the archive's root as `inference.py` and re-exports the serving functions from the package.
"""

from pipelines.inference import input_fn, model_fn, output_fn, predict_fn

__all__ = ["input_fn", "model_fn", "output_fn", "predict_fn"]
