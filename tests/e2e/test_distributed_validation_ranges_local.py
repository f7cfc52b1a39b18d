"""Validation over byte ranges in the local cloud: an upload above ``mlops.validation.mapThresholdBytes``
(4 KB here, by a context override of the synthesized app) takes the state machine's Distributed Map,
each map item a byte range of ``partBytes``, and the reduce reports a row repeated across ranges at
its line of the file (see also tests/e2e/test_distributed_validation_local.py).
"""

from __future__ import annotations

import json

import pytest
from corpus.cases import header, sample, to_csv  # the corpus package beside this module
from corpus.runner import Corpus

from mlops.local.cloud import LocalCloud

pytestmark = pytest.mark.e2e

ROWS = 900


def _map_items(corpus: Corpus, execution: dict) -> list[int]:
    events = corpus.observer.sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)
    return [e["mapStateStartedEventDetails"]["length"] for e in events["events"] if "mapStateStartedEventDetails" in e]


def _reports(corpus: Corpus, key: str) -> list[dict]:
    listed = corpus.s3.list_objects_v2(Bucket=corpus.r.quarantine).get("Contents", [])
    found = []
    for item in listed:
        if item["Key"].endswith(".report.json"):
            report = json.loads(corpus.s3.get_object(Bucket=corpus.r.quarantine, Key=item["Key"])["Body"].read())
            if report["source"]["key"] == key:
                found.append(report)
    return found


def _run(corpus: Corpus, upload) -> dict:
    corpus.settle()
    [execution] = corpus.observer.execution_of(upload)
    return execution


@pytest.fixture(scope="module")
def small_threshold(map_threshold_assembly, tmp_path_factory):
    """The app synthesized with a threshold that sends every upload over 4 KB to the map
    (conftest.MAP_THRESHOLD: mapThresholdBytes and partBytes 4096, maxConcurrency 2)."""
    work = tmp_path_factory.mktemp("ranges")
    with LocalCloud(work / "cloud", retry_wait_scale=0.05) as cloud:
        deployment = cloud.deploy(map_threshold_assembly)
        yield Corpus(cloud, deployment.outputs, work)


def test_a_large_upload_is_validated_over_byte_ranges(small_threshold):
    rows = sample(ROWS, 3)
    rows[-1] = list(rows[10])  # a repeat across ranges: line 12 again at the last line
    body = to_csv(header(), rows).encode()
    upload = small_threshold.upload("uploads/big.csv", body)

    execution = _run(small_threshold, upload)

    assert execution["status"] == "FAILED" and execution["error"] == "DataValidationError", execution.get("cause")
    assert _map_items(small_threshold, execution) == [-(-len(body) // 4096)]
    [report] = _reports(small_threshold, "uploads/big.csv")
    [unique] = [f for f in report["failures"] if f["check"] == "unique"]
    assert unique["lines"] == [1 + ROWS]
    assert sum(p["bytes"] for p in report["source"]["parts"]) == len(body)
