"""The bad-input corpus (tests/e2e/corpus) through one deployed local cloud, and a burst of
concurrent uploads: every case ends as its table says, nothing crashes, no object is lost.

The table (case, expected, observed) is printed in the terminal summary; ``python tests/e2e/corpus``
prints it on its own.
"""

from __future__ import annotations

import concurrent.futures

import pytest
from corpus.cases import ACCEPTED, CASES, QUARANTINED, by_name, good, with_cell
from corpus.runner import Corpus, Upload

from mlops.local.cloud import LocalCloud

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def corpus(fixed_threshold_assembly, tmp_path_factory, corpus_tables):
    work = tmp_path_factory.mktemp("corpus")
    with LocalCloud(work / "cloud", retry_wait_scale=0.2) as cloud:
        deployment = cloud.deploy(fixed_threshold_assembly)
        runner = Corpus(cloud, deployment.outputs, work)
        report = runner.run()
        corpus_tables.append(report.table())
        yield runner, report


def test_the_corpus_covers_files_events_and_faults():
    kinds = {case.kind for case in CASES}
    assert len(CASES) >= 40 and kinds == {"file", "event", "scenario", "fault"}
    assert len(by_name()) == len(CASES)


@pytest.mark.parametrize("name", [case.name for case in CASES])
def test_each_case_ends_as_the_table_says(corpus, name):
    _, report = corpus
    [row] = [row for row in report.rows if row.case.name == name]
    assert row.ok, f"{name}: expected {row.case.expected.describe()}, observed {row.observed.describe()}" + (
        f" (known issue: {row.case.known_issue})" if row.case.known_issue else ""
    )


def test_nothing_crashes(corpus):
    _, report = corpus
    assert report.crashes == []


def test_no_uploaded_object_is_lost(corpus):
    _, report = corpus
    assert report.uploads >= 45 and report.lost == []


def test_quarantined_objects_never_sit_under_a_dot_dot_segment(corpus):
    runner, _ = corpus
    keys = [item["Key"] for item in runner.s3.list_objects_v2(Bucket=runner.r.quarantine).get("Contents", [])]
    assert keys and not [key for key in keys if {"..", "."} & set(key.split("/"))]


# The burst's concurrency is the 10 uploading threads: at most 10 puts are in flight at once
# whatever the total, and the local cloud runs every execution on a thread of its own while the
# Lambda handlers run one at a time (adapters.code_loader.EXECUTION_LOCK). So 20 uploads, twice the
# threads, interleave as 50 did: every defect kind is still uploaded three times (and each is a
# corpus case of its own), the 5 valid uploads still train and reach the deployment lock side by
# side, and the 30 uploads dropped were only more copies of the same defects.
BURST_THREADS = 10
BURST_GOOD = 5
BURST_BAD = 15


def test_a_burst_of_concurrent_uploads_is_fully_accounted_for(corpus):
    """20 uploads at once (5 valid, 15 each with a defect), from 10 threads: each ends in a batch
    (validation.json) or in quarantine with a report, and every run ends by name."""
    runner, _ = corpus
    defects = [
        ("Torque [Nm]", "forty"),
        ("Air temperature [K]", "999.9"),
        ("Type", "XL"),
        ("Torque [Nm]", ""),
        ("Machine failure", "2"),
    ]
    bodies = {f"uploads/burst/good-{n:02d}.csv": good(250, 300 + n) for n in range(BURST_GOOD)}
    for n in range(BURST_BAD):
        column, value = defects[n % len(defects)]
        bodies[f"uploads/burst/bad-{n:02d}.csv"] = with_cell(column, value, row=(7 * n) % 250, seed=400 + n)
    crashes_before = set(runner.crashes())

    with concurrent.futures.ThreadPoolExecutor(BURST_THREADS) as pool:
        uploads: list[Upload] = list(pool.map(lambda item: runner.upload(*item), bodies.items()))
    runner.settle()

    outcomes = {upload.key: runner.observer.observe_upload(upload) for upload in uploads}
    quarantined = sorted(k for k, o in outcomes.items() if o.outcome == QUARANTINED)
    in_batches = sorted(k for k, o in outcomes.items() if o.outcome == ACCEPTED or "batch " in o.detail)
    assert len(uploads) == BURST_GOOD + BURST_BAD == 2 * BURST_THREADS
    assert quarantined == sorted(k for k in bodies if "/bad-" in k), {k: outcomes[k].describe() for k in bodies}
    assert in_batches == sorted(k for k in bodies if "/good-" in k), {k: outcomes[k].describe() for k in bodies}
    assert [u.key for u in uploads if not runner.observer.accounted(u)] == []
    assert set(runner.crashes()) - crashes_before == set()
