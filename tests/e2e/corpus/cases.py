"""The bad-input corpus: every case, what it sends and the outcome it must end in.

Files are generated here from the AI4I dataset (nothing is checked in but this table). Outcomes:

- ``accepted``: the upload became a batch (its ``validation.json`` in the curated bucket names it)
  and its run ended, successfully or with a named error and a notification;
- ``quarantined``: the object and a report naming each expected check (``functions.validate.checks``
  constants, never message text) are in the quarantine bucket, and the failed run notified;
- ``ignored``: the trigger skipped the event with the expected reason and logged a line saying why;
- ``error``: the named error, and a person was notified (SNS) where one must act: a failed run's
  notification, or the dead-letter queue's alarm for an event the trigger could not take.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from functions.validate import checks

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "data" / "ai4i2020.csv"
TARGET = "Machine failure"

ACCEPTED, QUARANTINED, IGNORED, ERROR = "accepted", "quarantined", "ignored", "error"


@dataclass(frozen=True)
class Expected:
    outcome: str
    checks: tuple[str, ...] = ()  # quarantined: checks the report must name (others may be named too)
    skip: str | None = None  # ignored: the trigger's skip reason
    error: str | None = None  # error: the error's name
    notified: bool = False  # error: a person is told

    def describe(self) -> str:
        if self.outcome == QUARANTINED:
            return f"quarantined [{', '.join(self.checks)}]"
        if self.outcome == IGNORED:
            return f"ignored ({self.skip})"
        if self.outcome == ERROR:
            return f"error {self.error}" + (" + notification" if self.notified else "")
        return "accepted"


@dataclass(frozen=True)
class FaultSpec:
    service: str
    operation: str
    error_code: str
    times: int = 1
    match: str | None = None


@dataclass(frozen=True)
class Case:
    """One corpus entry. ``kind``: ``file`` (uploaded to the incoming bucket), ``event`` (sent to the
    trigger: ``route`` ``sync`` / ``async`` invoke, or ``eventbridge`` put_events), ``scenario`` (a
    sequence the runner knows by name), ``fault`` (a file uploaded while ``faults`` are injected)."""

    name: str
    kind: str
    expected: Expected
    key: str = ""
    body: Callable[[], bytes] | None = None
    multipart: bool = False
    event: Callable[[dict[str, str]], Any] | None = None  # resources -> payload (bytes: sent as is)
    route: str = "sync"
    faults: tuple[FaultSpec, ...] = ()
    note: str = ""
    known_issue: str = ""  # a failure someone else owns: reported, never hidden


# --- the data the files are made of --------------------------------------------------------------


@cache
def _dataset() -> tuple[list[str], tuple[tuple[str, ...], ...]]:
    with DATA.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, tuple(tuple(row) for row in reader)


def header() -> list[str]:
    return list(_dataset()[0])


def sample(count: int, seed: int) -> list[list[str]]:
    """``count`` real rows (their share of failures near the dataset's 3.4 %), in a seeded order."""
    _, rows = _dataset()
    generator = random.Random(seed)
    positives = [list(r) for r in rows if r[8] == "1"]
    negatives = [list(r) for r in rows if r[8] == "0"]
    wanted = max(2, round(count * 0.034))
    chosen = generator.sample(positives, wanted) + generator.sample(negatives, count - wanted)
    generator.shuffle(chosen)
    return chosen


def to_csv(
    head: list[str], rows: list[list[str]], *, delimiter: str = ",", newline: str = "\n", quote_all=False
) -> str:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    )
    writer.writerow(head)
    writer.writerows(rows)
    return buffer.getvalue()


def good(count: int = 300, seed: int = 0) -> bytes:
    return to_csv(header(), sample(count, seed)).encode()


def _column(name: str) -> int:
    return header().index(name)


def with_cell(column: str, value: str, *, row: int = 5, count: int = 300, seed: int = 1) -> bytes:
    rows = sample(count, seed)
    rows[row][_column(column)] = value
    return to_csv(header(), rows).encode()


def without_columns(*names: str, seed: int = 2) -> bytes:
    keep = [i for i, name in enumerate(header()) if name not in names]
    rows = [[row[i] for i in keep] for row in sample(300, seed)]
    return to_csv([header()[i] for i in keep], rows).encode()


def renamed(old: str, new: str, seed: int = 3) -> bytes:
    head = [new if name == old else name for name in header()]
    return to_csv(head, sample(300, seed)).encode()


def reordered(seed: int = 4) -> bytes:
    order = list(reversed(range(len(header()))))
    rows = [[row[i] for i in order] for row in sample(300, seed)]
    return to_csv([header()[i] for i in order], rows).encode()


def extra_column(seed: int = 5) -> bytes:
    rows = [[*row, "free text"] for row in sample(300, seed)]
    return to_csv([*header(), "Comment"], rows).encode()


def duplicated_column(seed: int = 6) -> bytes:
    type_index = _column("Type")
    rows = [[*row, row[type_index]] for row in sample(300, seed)]
    return to_csv([*header(), "Type"], rows).encode()


def labels(value_of: Callable[[int, list[str]], str], seed: int = 7) -> bytes:
    rows = sample(300, seed)
    for n, row in enumerate(rows):
        row[_column(TARGET)] = value_of(n, row)
    return to_csv(header(), rows).encode()


def duplicate_rows(seed: int = 8) -> bytes:
    rows = sample(300, seed)
    return to_csv(header(), rows + rows[:30]).encode()


def duplicate_ids(seed: int = 9) -> bytes:
    rows = sample(300, seed)
    rows[10][0] = rows[11][0]
    return to_csv(header(), rows).encode()


def ragged(seed: int = 10) -> bytes:
    text = to_csv(header(), sample(300, seed)).splitlines()
    text[7] += ",surplus"
    return ("\n".join(text) + "\n").encode()


def unterminated_quote(seed: int = 11) -> bytes:
    text = to_csv(header(), sample(300, seed)).splitlines()
    text[-1] = text[-1].replace(",", ',"', 1)  # a quote opened in the last row, never closed
    return ("\n".join(text) + "\n").encode()


def quoted_newline(seed: int = 12) -> bytes:
    rows = sample(300, seed)
    rows[3][_column("Product ID")] = "M1\n4860"  # a quoted field holding a line break
    return to_csv(header(), rows).encode()


def blank_lines(seed: int = 13) -> bytes:
    text = to_csv(header(), sample(300, seed)).splitlines()
    for at in (50, 20, 5):
        text.insert(at, "")
    return ("\n".join(text) + "\n\n").encode()


def big_field(seed: int = 14) -> bytes:
    rows = sample(300, seed)
    rows[40][_column("Product ID")] = "X" * (1 << 20)  # one 1 MB value in a string (id) column
    return to_csv(header(), rows).encode()


def many_rows(count: int = 20_000, seed: int = 15) -> bytes:
    """Unique rows (fresh UDIs) over 1 MB, uploaded in parts by boto3 (multipart)."""
    _, rows = _dataset()
    generator = random.Random(seed)
    body = []
    for n in range(count):
        row = list(rows[generator.randrange(len(rows))])
        row[0] = str(n + 1)
        body.append(row)
    return to_csv(header(), body).encode()


def binary(seed: int = 16) -> bytes:
    return random.Random(seed).randbytes(4096)


# --- events ---------------------------------------------------------------------------------------

FIXTURES = ROOT / "tests" / "fixtures" / "events"


def s3_event(bucket: str, key: str, *, version: str | None = "v-corpus", etag: str = "0" * 32) -> dict[str, Any]:
    event = json.loads((FIXTURES / "s3_object_created.json").read_text())
    event["resources"] = [f"arn:aws:s3:::{bucket}"]
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"].update({"key": key, "etag": etag})
    if version is None:
        event["detail"]["object"].pop("version-id")
    else:
        event["detail"]["object"]["version-id"] = version
    return event


def alarm_event(name: str, arn: str, state: str = "ALARM") -> dict[str, Any]:
    event = json.loads((FIXTURES / "cloudwatch_alarm_state_change.json").read_text())
    event["resources"] = [arn]
    event["detail"]["alarmName"] = name
    event["detail"]["state"]["value"] = state
    return event


def _alarm_arn(resources: dict[str, str], name: str, account: str = "123456789012") -> str:
    return f"arn:aws:cloudwatch:us-east-1:{account}:alarm:{name}"


def _malformed_upload(resources: dict[str, str]) -> dict[str, Any]:
    event = s3_event(resources["incoming"], "uploads/corpus-malformed-event.csv")
    del event["detail"]["object"]["size"], event["detail"]["version"]
    return event


def _wrong_types(resources: dict[str, str]) -> dict[str, Any]:
    event = s3_event(resources["incoming"], "uploads/corpus-wrong-types.csv")
    event["detail"]["object"]["key"] = {"corpus": "wrong-types"}
    event["detail"]["object"]["size"] = "large"
    return event


# --- the table ------------------------------------------------------------------------------------

Q = checks  # check names are the validator's constants

CASES: tuple[Case, ...] = (
    # files: encodings and delimiters
    Case("valid", "file", Expected(ACCEPTED), "uploads/corpus/valid.csv", lambda: good(300, 100)),
    Case("utf8-bom", "file", Expected(ACCEPTED), "uploads/corpus/bom.csv", lambda: codecs.BOM_UTF8 + good(300, 101)),
    Case(
        "latin-1",
        "file",
        Expected(QUARANTINED, (Q.ENCODING,)),
        "uploads/corpus/latin1.csv",
        lambda: with_cell("Product ID", "M14860é").decode().encode("latin-1"),
    ),
    Case(
        "utf-16",
        "file",
        Expected(QUARANTINED, (Q.ENCODING,)),
        "uploads/corpus/utf16.csv",
        lambda: good(300, 102).decode().encode("utf-16"),
    ),
    Case(
        "semicolons",
        "file",
        Expected(QUARANTINED, (Q.HEADER_MISSING,)),
        "uploads/corpus/semicolons.csv",
        lambda: to_csv(header(), sample(300, 103), delimiter=";").encode(),
    ),
    Case(
        "tabs",
        "file",
        Expected(QUARANTINED, (Q.HEADER_MISSING,)),
        "uploads/corpus/tabs.tsv",
        lambda: to_csv(header(), sample(300, 104), delimiter="\t").encode(),
    ),
    Case(
        "crlf",
        "file",
        Expected(ACCEPTED),
        "uploads/corpus/crlf.csv",
        lambda: to_csv(header(), sample(300, 105), newline="\r\n").encode(),
    ),
    Case(
        "all-quoted",
        "file",
        Expected(ACCEPTED),
        "uploads/corpus/quoted.csv",
        lambda: to_csv(header(), sample(300, 106), quote_all=True).encode(),
    ),
    Case("quoted-newline", "file", Expected(ACCEPTED), "uploads/corpus/quoted-newline.csv", quoted_newline),
    Case(
        "unterminated-quote",
        "file",
        Expected(QUARANTINED, (Q.MALFORMED_CSV,)),
        "uploads/corpus/unterminated.csv",
        unterminated_quote,
    ),
    Case("blank-lines", "file", Expected(ACCEPTED), "uploads/corpus/blank-lines.csv", blank_lines),
    Case("ragged-row", "file", Expected(QUARANTINED, (Q.ROW_WIDTH,)), "uploads/corpus/ragged.csv", ragged),
    # types and values
    Case(
        "text-in-float",
        "file",
        Expected(QUARANTINED, (Q.TYPE,)),
        "uploads/corpus/text.csv",
        lambda: with_cell("Torque [Nm]", "forty"),
    ),
    Case(
        "nan",
        "file",
        Expected(QUARANTINED, (Q.TYPE,)),
        "uploads/corpus/nan.csv",
        lambda: with_cell("Torque [Nm]", "NaN"),
    ),
    Case(
        "inf",
        "file",
        Expected(QUARANTINED, (Q.TYPE,)),
        "uploads/corpus/inf.csv",
        lambda: with_cell("Air temperature [K]", "inf"),
    ),
    Case(
        "float-in-integer",
        "file",
        Expected(QUARANTINED, (Q.TYPE,)),
        "uploads/corpus/float-int.csv",
        lambda: with_cell("Rotational speed [rpm]", "1551.5"),
    ),
    Case(
        "out-of-range",
        "file",
        Expected(QUARANTINED, (Q.RANGE,)),
        "uploads/corpus/range.csv",
        lambda: with_cell("Air temperature [K]", "999.9"),
    ),
    Case(
        "negative",
        "file",
        Expected(QUARANTINED, (Q.RANGE,)),
        "uploads/corpus/negative.csv",
        lambda: with_cell("Tool wear [min]", "-3"),
    ),
    Case(
        "empty-value",
        "file",
        Expected(QUARANTINED, (Q.NULLS,)),
        "uploads/corpus/null.csv",
        lambda: with_cell("Torque [Nm]", ""),
    ),
    Case(
        "unknown-category",
        "file",
        Expected(QUARANTINED, (Q.CATEGORIES,)),
        "uploads/corpus/category.csv",
        lambda: with_cell("Type", "XL"),
    ),
    # columns
    Case(
        "missing-column",
        "file",
        Expected(QUARANTINED, (Q.HEADER_MISSING,)),
        "uploads/corpus/missing.csv",
        lambda: without_columns("Torque [Nm]"),
    ),
    Case(
        "id-and-leak-columns-absent",
        "file",
        Expected(ACCEPTED),
        "uploads/corpus/features-only.csv",
        lambda: without_columns("UDI", "Product ID", "TWF", "HDF", "PWF", "OSF", "RNF"),
    ),
    Case("extra-column", "file", Expected(QUARANTINED, (Q.HEADER_EXTRA,)), "uploads/corpus/extra.csv", extra_column),
    Case(
        "duplicated-column",
        "file",
        Expected(QUARANTINED, (Q.HEADER_DUPLICATE,)),
        "uploads/corpus/dup-col.csv",
        duplicated_column,
    ),
    Case(
        "renamed-column",
        "file",
        Expected(QUARANTINED, (Q.HEADER_MISSING, Q.HEADER_EXTRA)),
        "uploads/corpus/renamed.csv",
        lambda: renamed("Torque [Nm]", "Torque"),
    ),
    Case(
        "header-whitespace",
        "file",
        Expected(QUARANTINED, (Q.HEADER_MISSING, Q.HEADER_EXTRA)),
        "uploads/corpus/whitespace.csv",
        lambda: renamed("Type", "Type "),
    ),
    Case("reordered-columns", "file", Expected(ACCEPTED), "uploads/corpus/reordered.csv", reordered),
    # labels
    Case(
        "invalid-label",
        "file",
        Expected(QUARANTINED, (Q.CATEGORIES,)),
        "uploads/corpus/label.csv",
        lambda: labels(lambda n, row: "2" if n == 9 else row[8]),
    ),
    Case(
        "all-one-class",
        "file",
        Expected(QUARANTINED, (Q.LABEL_BALANCE,)),
        "uploads/corpus/one-class.csv",
        lambda: labels(lambda n, row: "0"),
    ),
    Case(
        "all-positive",
        "file",
        Expected(QUARANTINED, (Q.LABEL_BALANCE,)),
        "uploads/corpus/all-positive.csv",
        lambda: labels(lambda n, row: "1"),
    ),
    Case(
        "duplicate-rows", "file", Expected(QUARANTINED, (Q.DUPLICATE_ROWS,)), "uploads/corpus/dups.csv", duplicate_rows
    ),
    Case("duplicate-ids", "file", Expected(QUARANTINED, (Q.UNIQUE,)), "uploads/corpus/dup-ids.csv", duplicate_ids),
    # sizes and shapes
    Case("empty", "file", Expected(QUARANTINED, (Q.EMPTY_FILE,)), "uploads/corpus/empty.csv", lambda: b""),
    Case(
        "header-only",
        "file",
        Expected(QUARANTINED, (Q.MIN_ROWS,)),
        "uploads/corpus/header.csv",
        lambda: to_csv(header(), []).encode(),
    ),
    Case(
        "one-row",
        "file",
        Expected(QUARANTINED, (Q.MIN_ROWS,)),
        "uploads/corpus/one-row.csv",
        lambda: to_csv(header(), sample(300, 107)[:1]).encode(),
    ),
    Case(
        "1mb-field",
        "file",
        Expected(ACCEPTED),
        "uploads/corpus/big-field.csv",
        big_field,
        note="a valid file with one 1 MB value in a string column",
        known_issue="validator: a field over the csv module's 128 KB limit stopped the reading and reported "
        "false min_rows/label_balance (the validator engineer's)",
    ),
    Case(
        "multipart-upload",
        "file",
        Expected(ACCEPTED),
        "uploads/corpus/multipart.csv",
        many_rows,
        multipart=True,
        note="boto3 upload_file over the multipart threshold",
    ),
    Case("binary", "file", Expected(QUARANTINED, (Q.ENCODING,)), "uploads/corpus/random.bin", binary),
    Case(
        "gzip",
        "file",
        Expected(QUARANTINED, (Q.ENCODING,)),
        "uploads/corpus/compressed.csv",
        lambda: gzip.compress(good(300, 108), mtime=0),
    ),
    # keys
    Case("key-with-spaces", "file", Expected(ACCEPTED), "uploads/corpus/my data file (1).csv", lambda: good(300, 109)),
    Case("unicode-key", "file", Expected(ACCEPTED), "uploads/corpus/données-✓-データ.csv", lambda: good(300, 110)),
    Case(
        "dotdot-key",
        "file",
        Expected(QUARANTINED, (Q.TYPE,)),
        "uploads/../../corpus/escape.csv",
        lambda: with_cell("Torque [Nm]", "forty", seed=111),
        note="quarantined under a path-safe key (no '..' segment); the report keeps the exact key",
    ),
    Case("dotdot-key-valid", "file", Expected(ACCEPTED), "uploads/./corpus/../dots.csv", lambda: good(300, 112)),
    # scenarios
    Case(
        "overwritten-key",
        "scenario",
        Expected(ACCEPTED),
        "uploads/corpus/overwritten.csv",
        note="two versions of one key: each its own run and batch",
    ),
    Case(
        "identical-bytes-twice",
        "scenario",
        Expected(ACCEPTED),
        "uploads/corpus/twin",
        note="the same bytes under two keys at once: two batches, two reports",
    ),
    Case(
        "deleted-before-validation",
        "scenario",
        Expected(ERROR, error="SourceObjectError", notified=True),
        "uploads/corpus/withdrawn.csv",
        note="a delete marker on the key before its run validates it: nothing is trained",
    ),
    Case("replayed-event", "scenario", Expected(IGNORED, skip="duplicate"), note="the valid case's event, again"),
    Case(
        "concurrent-duplicates",
        "scenario",
        Expected(IGNORED, skip="duplicate"),
        note="one event delivered twice at once: one run",
    ),
    # events: not ours (ignored with a log line)
    Case(
        "foreign-bucket",
        "event",
        Expected(IGNORED, skip="ignored_key"),
        event=lambda r: s3_event("someone-elses-bucket", "uploads/x.csv"),
    ),
    Case(
        "folder-marker",
        "event",
        Expected(IGNORED, skip="ignored_key"),
        event=lambda r: s3_event(r["incoming"], "uploads/folder/"),
    ),
    Case(
        "outside-prefix",
        "event",
        Expected(IGNORED, skip="ignored_key"),
        event=lambda r: s3_event(r["incoming"], "elsewhere/x.csv"),
    ),
    Case(
        "foreign-alarm",
        "event",
        Expected(IGNORED, skip="not_alarm"),
        event=lambda r: alarm_event("someone-elses-alarm", _alarm_arn(r, "someone-elses-alarm")),
    ),
    Case(
        "alarm-of-another-account",
        "event",
        Expected(IGNORED, skip="not_alarm"),
        event=lambda r: alarm_event(r["drift_alarm"], _alarm_arn(r, r["drift_alarm"], account="999999999999")),
    ),
    Case(
        "alarm-back-to-ok",
        "event",
        Expected(IGNORED, skip="not_alarm"),
        event=lambda r: alarm_event(r["drift_alarm"], _alarm_arn(r, r["drift_alarm"]), state="OK"),
    ),
    Case(
        "recheck-nothing-pending",
        "event",
        Expected(IGNORED, skip="nothing_pending"),
        event=lambda r: {"reason": "recheck"},
    ),
    # events: malformed (a named error, dead-lettered, the queue's alarm notifies)
    Case(
        "json-string",
        "event",
        Expected(ERROR, error="UnsupportedEventError", notified=True),
        event=lambda r: b'"corpus-json-string"',
        route="async",
    ),
    Case(
        "truncated-json",
        "event",
        Expected(ERROR, error="Runtime.UnmarshalError", notified=True),
        event=lambda r: b'{"corpus": "truncated", "source": "aws.s3", "detail-ty',
        route="async",
    ),
    Case(
        "unknown-event",
        "event",
        Expected(ERROR, error="UnsupportedEventError", notified=True),
        event=lambda r: {"corpus": "unknown-event", "source": "aws.s3", "detail-type": "Object Deleted"},
        route="async",
    ),
    Case(
        "malformed-upload-event",
        "event",
        Expected(ERROR, error="UnsupportedEventError", notified=True),
        event=_malformed_upload,
        route="eventbridge",
        note="matches the upload rule, lacks required fields",
    ),
    Case(
        "wrong-types-event",
        "event",
        Expected(ERROR, error="UnsupportedEventError", notified=True),
        event=_wrong_types,
        route="async",
    ),
    Case(
        "manual-wrong-types",
        "event",
        Expected(ERROR, error="UnsupportedEventError", notified=True),
        event=lambda r: {"reason": "manual", "bucket": r["incoming"], "key": 42, "corpus": "manual-wrong-types"},
        route="async",
    ),
    Case(
        "manual-foreign-bucket",
        "event",
        Expected(ERROR, error="SourceObjectError", notified=True),
        event=lambda r: {"reason": "manual", "bucket": "no-such-bucket-corpus", "key": "uploads/x.csv"},
        note="an operator's run for a bucket that does not exist: the run fails at Validate",
    ),
    # faults (one at a time; transient ones are retried with backoff and end accepted)
    Case(
        "s3-throttled",
        "fault",
        Expected(ACCEPTED),
        "uploads/corpus/fault-s3.csv",
        lambda: good(300, 120),
        faults=(FaultSpec("s3", "GetObject", "SlowDown", times=6, match="fault-s3.csv"),),
        note="past the SDK's 5 retries: TransientServiceError, retried by the state machine",
    ),
    Case(
        "lambda-throttled",
        "fault",
        Expected(ACCEPTED),
        "uploads/corpus/fault-lambda.csv",
        lambda: good(300, 121),
        faults=(FaultSpec("lambda", "Invoke", "TooManyRequestsException", times=2, match="mlops-validate"),),
    ),
    Case(
        "training-job-fails",
        "fault",
        Expected(ERROR, error="States.TaskFailed", notified=True),
        "uploads/corpus/fault-training.csv",
        lambda: good(300, 122),
        faults=(FaultSpec("sagemaker", "TrainingJob", "AlgorithmError"),),
        note="the batch is kept (validation.json); the champion keeps serving",
    ),
)


def by_name() -> dict[str, Case]:
    table = {case.name: case for case in CASES}
    assert len(table) == len(CASES), "case names must be unique"
    return table


@dataclass
class Observed:
    outcome: str
    checks: tuple[str, ...] = ()
    skip: str | None = None
    error: str | None = None
    notified: bool = False
    detail: str = ""
    keys: list[str] = field(default_factory=list)  # the uploaded keys this observation accounts for

    def describe(self) -> str:
        if self.outcome == QUARANTINED:
            text = f"quarantined [{', '.join(self.checks)}]"
        elif self.outcome == IGNORED:
            text = f"ignored ({self.skip})"
        elif self.outcome == ERROR:
            text = f"error {self.error}" + (" + notification" if self.notified else " (nobody told)")
        else:
            text = self.outcome
        return f"{text}; {self.detail}" if self.detail else text


def matches(expected: Expected, observed: Observed) -> bool:
    if expected.outcome != observed.outcome:
        return False
    if expected.outcome == QUARANTINED:
        return set(expected.checks) <= set(observed.checks) and observed.notified
    if expected.outcome == IGNORED:
        return expected.skip == observed.skip
    if expected.outcome == ERROR:
        return expected.error == observed.error and (observed.notified or not expected.notified)
    return True
