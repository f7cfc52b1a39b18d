"""Exceptions whose class NAMES are part of the contract.

Step Functions reports a Lambda failure with ``Error`` = the exception's class name, and the state
machine's Retry/Catch rules match on that name (``DataValidationError`` is never retried). Renaming
a class here therefore changes the pipeline's behaviour: change docs/ARCHITECTURE.md first.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class: a non-transient failure that a retry cannot fix."""


class ConfigurationError(PipelineError):
    """A required environment variable is missing or malformed (a deployment defect)."""


class DataValidationError(PipelineError):
    """The uploaded data broke the schema or a quality rule; it has been quarantined with a report."""


class NoCuratedDataError(PipelineError):
    """A retraining was requested but the curated bucket holds no snapshot of the dataset."""


class ArtifactError(PipelineError):
    """A training job's artifacts are missing, malformed, unsafe or fail their integrity check."""


class RegistryError(PipelineError):
    """The SageMaker Model Registry is not in the state the pipeline expects (e.g. a missing group)."""


class ServingError(PipelineError):
    """The serving endpoint exists but its model lacks what drift monitoring needs (e.g. a baseline)."""


class UnsupportedEventError(PipelineError):
    """A handler received an event shape it does not accept."""


class SourceObjectError(PipelineError):
    """The object a run was started for cannot be validated: its bucket or version is gone, it was
    deleted or changed since its event, or the function may not read it (nothing is trained)."""


class TransientServiceError(Exception):
    """An AWS service throttled or was briefly unavailable beyond the SDK's own retries.

    Deliberately not a ``PipelineError``: it is the one failure a retry can fix, and the state
    machine's Retry (``TRANSIENT_ERRORS``) matches this name; asynchronous invocations are retried
    by Lambda. The message names the operation and the service's error code.
    """
