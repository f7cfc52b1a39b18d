"""Waiting for a local endpoint, as a SageMaker client would: creation and updates are asynchronous."""

from __future__ import annotations

import time
from typing import Any

SETTLED = {"InService", "Failed"}


def settled(sagemaker: Any, endpoint: str, timeout: float = 30.0) -> dict[str, Any]:
    """DescribeEndpoint once the endpoint is InService or Failed (fails the test past ``timeout``)."""
    deadline = time.monotonic() + timeout
    while (described := sagemaker.describe_endpoint(EndpointName=endpoint))["EndpointStatus"] not in SETTLED:
        assert time.monotonic() < deadline, described["EndpointStatus"]
        time.sleep(0.1)
    return dict(described)


def in_service(sagemaker: Any, endpoint: str, timeout: float = 30.0) -> None:
    """Wait until the endpoint serves; a Failed one fails the test with its reason."""
    described = settled(sagemaker, endpoint, timeout)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
