"""Validation beyond one function, in the local cloud: the synthesized state machine's Distributed Map.

A manifest upload (three part files under ``parts/``) always takes the map: its parts are validated
by the validate function one map item each, the reduce merges them into one report (a row repeated
across parts is found at its line of the concatenation) and, for valid parts, writes one batch
whose ``data.csv`` is the parts concatenated, and training proceeds. The byte-range case is
tests/e2e/test_distributed_validation_ranges_local.py (another synthesized app: one local cloud at
a time).
"""

from __future__ import annotations

import json

import pytest
from corpus.cases import header, sample, to_csv  # the corpus package beside this module
from corpus.runner import Corpus

from mlops.local.cloud import LocalCloud

pytestmark = pytest.mark.e2e

ROWS = 300  # per part


def _map_items(corpus: Corpus, execution: dict) -> list[int]:
    """The item count of each Distributed Map the execution ran (its child executions are map runs)."""
    events = corpus.observer.sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)
    return [e["mapStateStartedEventDetails"]["length"] for e in events["events"] if "mapStateStartedEventDetails" in e]


def _states(corpus: Corpus, execution: dict) -> list[str]:
    events = corpus.observer.sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)
    return [e["stateEnteredEventDetails"]["name"] for e in events["events"] if "stateEnteredEventDetails" in e]


def _parts(seed: int) -> tuple[str, list[list[str]]]:
    rows = sample(3 * ROWS, seed)
    for number, row in enumerate(rows):
        row[0] = str(500_000 + seed * 10_000 + number)  # ids of their own
    return to_csv(header(), []), rows


def _manifest_upload(corpus: Corpus, name: str, rows: list[list[str]]) -> tuple[object, list[bytes]]:
    bodies = [to_csv(header(), rows[i : i + ROWS]).encode() for i in range(0, len(rows), ROWS)]
    keys = []
    for index, body in enumerate(bodies):
        key = f"parts/{name}/part-{index}.csv"
        corpus.s3.put_object(Bucket=corpus.r.incoming, Key=key, Body=body)
        keys.append(key)
    upload = corpus.upload(f"uploads/{name}.manifest.json", json.dumps({"parts": keys}).encode())
    return upload, bodies


def _run(corpus: Corpus, upload) -> dict:
    corpus.settle()
    [execution] = corpus.observer.execution_of(upload)
    return execution


def _reports(corpus: Corpus, key: str) -> list[dict]:
    listed = corpus.s3.list_objects_v2(Bucket=corpus.r.quarantine).get("Contents", [])
    found = []
    for item in listed:
        if item["Key"].endswith(".report.json"):
            report = json.loads(corpus.s3.get_object(Bucket=corpus.r.quarantine, Key=item["Key"])["Body"].read())
            if report["source"]["key"] == key:
                found.append(report)
    return found


@pytest.fixture(scope="module")
def pipeline(fixed_threshold_assembly, tmp_path_factory):
    work = tmp_path_factory.mktemp("distributed")
    with LocalCloud(work / "cloud", retry_wait_scale=0.05) as cloud:
        deployment = cloud.deploy(fixed_threshold_assembly)
        yield Corpus(cloud, deployment.outputs, work)


def test_a_valid_manifest_upload_takes_the_map_and_trains_on_one_batch(pipeline):
    _, rows = _parts(1)
    upload, bodies = _manifest_upload(pipeline, "good", rows)

    execution = _run(pipeline, upload)

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    states = _states(pipeline, execution)
    assert "ValidateParts" in states and states.index("ReduceValidation") < states.index("ResolveChampion")
    assert _map_items(pipeline, execution) == [3]
    output = json.loads(execution["output"])
    validation = output["validation"]
    assert validation["rows"] == 3 * ROWS and validation["mode"] == "map"
    assert "items" not in validation  # the reduce's answer replaced the plan
    data = pipeline.s3.get_object(Bucket=pipeline.r.curated, Key=validation["snapshot"]["key"])["Body"].read()
    assert data == bodies[0] + b"".join(body.split(b"\n", 1)[1] for body in bodies[1:])  # the header once
    assert output["plan"]["train"] is True and output["training"]["jobName"]  # training proceeded


def test_a_row_repeated_across_parts_is_one_report_at_its_line(pipeline):
    _, rows = _parts(2)
    rows[-1] = list(rows[5])  # the last row of part 3 repeats row 6 of part 1 (line 7)
    upload, _ = _manifest_upload(pipeline, "duplicate", rows)

    execution = _run(pipeline, upload)

    assert execution["status"] == "FAILED" and execution["error"] == "DataValidationError", execution.get("cause")
    assert "ReduceValidation" in _states(pipeline, execution) and _map_items(pipeline, execution) == [3]
    [report] = _reports(pipeline, "uploads/duplicate.manifest.json")
    [unique] = [f for f in report["failures"] if f["check"] == "unique"]
    assert unique["column"] == "UDI" and unique["lines"] == [1 + 3 * ROWS] and unique["count"] == 1
    assert report["duplicateRows"] == 1
    assert [p["firstLine"] for p in report["source"]["parts"]] == [1, 2 + ROWS, 2 + 2 * ROWS]  # header, rows
