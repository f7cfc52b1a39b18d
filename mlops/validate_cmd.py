"""``mlops validate FILE --schema S [--json]``: check a local CSV file exactly as the validate Lambda does.

The file's bytes go to :func:`functions.validate.checks.validate_csv`, the function the validate
Lambda (``functions.validate.logic.validate_upload``) gives the uploaded object's bytes to, so a
file that passes here passes there, with the same failures, line numbers and profile. Exit status:
0 valid, 1 invalid, 2 for a usage error (no such file, no or a bad schema).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["add_parser", "run", "validate_file"]

_PROGRESS_SECONDS = 0.25  # at most this often on a terminal


def add_parser(commands: Any) -> None:
    """Register ``validate`` on the ``mlops`` sub-command parser."""
    parser = commands.add_parser(
        "validate",
        help="validate a local CSV file against a dataset schema, exactly as the validate Lambda does",
        description="Checks FILE against the schema with the validate Lambda's own code (types, ranges, "
        "categories, nulls, uniqueness, duplicate rows, row count, label balance) and prints every "
        "failure with its first line numbers. Exits 0 if the file is valid, 1 if not, 2 on a usage error.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the CSV file to validate (header first)")
    parser.add_argument(
        "--schema",
        type=Path,
        required=True,
        metavar="S",
        help="the dataset schema file, e.g. schemas/ai4i2020.schema.json",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the validation report as JSON (what the Lambda writes as validation.json) instead of text",
    )


def validate_file(path: Path, schema_path: Path, *, progress: Any = None) -> Any:
    """The :class:`~functions.validate.checks.ValidationResult` of a local file (raises on a bad schema)."""
    from functions.validate.checks import validate_csv
    from pipelines.schema import load_schema

    schema = load_schema(schema_path)
    with path.open("rb") as handle:
        return validate_csv(handle, schema, progress=progress)


def run(arguments: argparse.Namespace, *, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """Validate ``arguments.file``; print the report; return the exit status."""
    from pipelines.schema import SchemaError

    out = out or sys.stdout
    err = err or sys.stderr
    path, schema_path = Path(arguments.file), Path(arguments.schema)
    for what, candidate in (("file", path), ("schema", schema_path)):
        if not candidate.is_file():
            print(f"mlops validate: {what} {str(candidate)!r} does not exist or is not a file", file=err)
            return 2
    progress = _Progress(err) if err.isatty() else None
    try:
        result = validate_file(path, schema_path, progress=progress)
    except SchemaError as error:
        print(f"mlops validate: {schema_path}: {error}", file=err)
        return 2
    finally:
        if progress is not None:
            progress.done()
    if arguments.json:
        print(json.dumps({"file": str(path), **result.to_dict()}, indent=2), file=out)
    else:
        print(_text_report(path, result), file=out)
    return 0 if result.valid else 1


class _Progress:
    """``rows so far`` on one terminal line of stderr, redrawn at most every quarter second."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._shown = 0.0
        self._drawn = False

    def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if now - self._shown >= _PROGRESS_SECONDS:
            self._shown = now
            self._drawn = True
            self._stream.write(f"\rvalidating: {rows:,} rows so far")
            self._stream.flush()

    def done(self) -> None:
        if self._drawn:
            self._stream.write("\r\033[K")
            self._stream.flush()


def _text_report(path: Path, result: Any) -> str:
    verdict = "valid" if result.valid else "INVALID"
    share = f" ({result.positive_fraction:.2%})" if result.positive_fraction is not None else ""
    lines = [
        f"{path}: {verdict} against schema {result.schema!r}",
        f"  {result.rows:,} rows, {result.positives:,} positive{share}, {result.duplicate_rows:,} duplicate rows",
    ]
    if result.time_range:
        lines.append(f"  time range {result.time_range['min']} .. {result.time_range['max']}")
    if result.header.get("absent"):
        lines.append(f"  optional columns absent: {', '.join(result.header['absent'])}")
    if result.failures:
        lines.append(f"{len(result.failures)} failed check(s):")
        lines.extend(f"  - {failure.summary()}" for failure in result.failures)
    if result.columns:
        lines.append("columns:")
        width = max(len(name) for name in result.columns)
        for name, profile in result.columns.items():
            lines.append(f"  {name:<{width}}  {_profile_text(profile)}")
    return "\n".join(lines)


def _profile_text(profile: dict[str, Any]) -> str:
    parts = [f"{profile['type']:<11}", f"{profile['values']:>10,} values"]
    if profile["nulls"]:
        parts.append(f"{profile['nulls']:,} null")
    if profile["parseErrors"]:
        parts.append(f"{profile['parseErrors']:,} not {profile['type']}")
    if "min" in profile:
        parts.append(f"min {profile['min']:g} max {profile['max']:g} mean {profile['mean']:.4g}")
    if "categoryCounts" in profile:
        parts.append(", ".join(f"{k}: {v:,}" for k, v in profile["categoryCounts"].items()))
    if profile.get("duplicates"):
        parts.append(f"{profile['duplicates']:,} repeated")
    return "  ".join(parts)
