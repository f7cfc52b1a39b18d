"""Throughput and peak memory of CSV validation: the columnar validator, the old stdlib one, pyarrow's parse.

Generates (seeded) a CSV of ``--rows`` rows like a wide tabular upload: 20 numeric columns (an
integer ``id`` that must be unique, 9 bounded integers, 10 bounded floats), 5 categorical columns
and a binary integer target, with its schema file in the format of ``schemas/*.schema.json``. Then
runs each tool ``--runs`` times, each in a fresh interpreter, and reports the median rows/s, the
median peak RSS of the child process (``ru_maxrss`` from ``os.wait4``; the parent never imports
pyarrow or numpy, since a child's figure includes its parent's RSS at fork) and the ratios against
the parse floor:

* ``columnar``: ``mlops validate``'s code path (:func:`mlops.validate_cmd.validate_file`, which
  hands the file's bytes to ``validate_csv`` as the validate Lambda does);
* ``stdlib``: the validator before issue 17 (``benchmarks/_legacy_validator.py``, a verbatim copy);
* ``arrow``: ``pyarrow.csv.read_csv`` of the file on one thread, types inferred: the parse floor.

Each child times the work only (imports done first). Run from the repository root:

    python benchmarks/validation_throughput.py --rows 1000000 --runs 3
    python benchmarks/validation_throughput.py --rows 4000000 --runs 3 --tools columnar,arrow
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("columnar", "stdlib", "arrow")
CATEGORIES = (
    ("L", "M", "H"),
    ("red", "green", "blue", "black"),
    ("north", "south", "east", "west", "centre"),
    ("a1", "b2", "c3", "d4", "e5", "f6"),
    ("yes", "no"),
)


def schema_document() -> dict[str, object]:
    columns: list[dict[str, object]] = [{"name": "id", "type": "integer", "role": "id", "unique": True}]
    columns += [{"name": f"count_{i}", "type": "integer", "min": 0, "max": 100_000} for i in range(1, 10)]
    columns += [{"name": f"reading_{i}", "type": "float", "min": -1e6, "max": 1e6} for i in range(10)]
    columns += [{"name": f"kind_{i}", "type": "categorical", "categories": list(c)} for i, c in enumerate(CATEGORIES)]
    columns.append({"name": "failure", "type": "integer", "role": "target", "categories": [0, 1]})
    return {
        "name": "throughput",
        "description": "Synthetic wide table for benchmarks/validation_throughput.py",
        "problemType": "binary_classification",
        "target": "failure",
        "positiveLabel": 1,
        "columns": columns,
        "quality": {"minRows": 100, "maxDuplicateRowFraction": 0.01, "maxPositiveFraction": 0.5},
    }


def _columns(document: dict[str, object]) -> list[dict[str, object]]:
    columns = document["columns"]
    assert isinstance(columns, list)
    return columns


def generate(directory: Path, rows: int, seed: int, *, quoted: bool = False) -> tuple[Path, Path]:
    """Write ``data.csv`` and ``schema.json`` into ``directory`` (in slices: memory stays flat)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    document = schema_document()
    names = [str(c["name"]) for c in _columns(document)]
    schema_path = directory / "schema.json"
    schema_path.write_text(json.dumps(document, indent=1))
    data_path = directory / "data.csv"
    rng = np.random.default_rng(seed)
    slice_rows = 250_000
    options = pacsv.WriteOptions(quoting_style="needed" if quoted else "none")
    with pacsv.CSVWriter(data_path, pa.schema([(n, pa.string()) for n in names]), write_options=options) as writer:
        for start in range(0, rows, slice_rows):
            n = min(slice_rows, rows - start)
            cols: list[object] = [np.arange(start + 1, start + n + 1)]
            cols += [rng.integers(0, 100_000, n) for _ in range(9)]
            cols += [np.round(rng.normal(100 * i, 10 + i, n), 4) for i in range(10)]
            cols += [np.asarray(c, dtype=object)[rng.integers(0, len(c), n)] for c in CATEGORIES]
            cols.append((rng.random(n) < 0.05).astype(np.int64))
            arrays = [pa.array(c).cast(pa.string()) for c in cols]
            writer.write_table(pa.table(arrays, names=names))
    return data_path, schema_path


def child(tool: str, data: Path, schema: Path) -> None:
    """Run one tool once and print what it found as JSON (the parent reads the child's rusage)."""
    if tool == "columnar":
        import functions.validate.columnar  # noqa: F401  (pyarrow's import is not the validation's time)
        from mlops.validate_cmd import validate_file

        start = time.perf_counter()
        result = validate_file(data, schema)
        rows, valid = result.rows, result.valid
    elif tool == "stdlib":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from _legacy_validator import validate_csv

        from pipelines.schema import load_schema

        start = time.perf_counter()
        with data.open(encoding="utf-8-sig", newline="") as handle:
            result = validate_csv(handle, load_schema(schema))
        rows, valid = result.rows, result.valid
    else:
        import pyarrow.csv as pacsv

        start = time.perf_counter()
        table = pacsv.read_csv(data, read_options=pacsv.ReadOptions(use_threads=False))
        rows, valid = table.num_rows, None
    print(json.dumps({"seconds": time.perf_counter() - start, "rows": rows, "valid": valid}))


def measure(tool: str, data: Path, schema: Path, runs: int) -> dict[str, float]:
    seconds: list[float] = []
    peaks: list[float] = []
    rows = 0
    for _ in range(runs):
        process = subprocess.Popen(
            [sys.executable, __file__, "--child", tool, "--data", str(data), "--schema", str(schema)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert process.stdout is not None
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise SystemExit(f"{tool} failed with exit status {process.returncode}")
        found = json.loads(output)
        seconds.append(found["seconds"])
        peaks.append(usage.ru_maxrss / 1024)  # KiB on Linux
        rows = found["rows"]
        if found["valid"] is False:
            raise SystemExit(f"{tool} found the generated file invalid")
    median = statistics.median(seconds)
    return {"rows": rows, "seconds": median, "rows_per_s": rows / median, "rss_mib": statistics.median(peaks)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated file (default 1M)")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per tool; the median is shown")
    parser.add_argument("--seed", type=int, default=17, help="random seed of the generated data")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}")
    parser.add_argument("--quoted", action="store_true", help="quote the categorical values (as pyarrow writes)")
    parser.add_argument("--dir", type=Path, help="write the file here and keep it (default: a temp dir)")
    parser.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--generate-into", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--schema", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        child(arguments.child, arguments.data, arguments.schema)
        return 0
    if arguments.generate_into:
        arguments.generate_into.mkdir(parents=True, exist_ok=True)
        generate(arguments.generate_into, arguments.rows, arguments.seed, quoted=arguments.quoted)
        return 0
    tools = [t for t in arguments.tools.split(",") if t]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tool(s) {unknown}")
    with tempfile.TemporaryDirectory() as scratch:
        directory = arguments.dir or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        # In a child of its own: a child's ru_maxrss counts the RSS its parent had when it forked,
        # so the parent must stay small (it never imports pyarrow or numpy).
        command = [sys.executable, __file__, "--generate-into", str(directory), "--rows", str(arguments.rows)]
        command += ["--seed", str(arguments.seed), *(["--quoted"] if arguments.quoted else [])]
        subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        data, schema = directory / "data.csv", directory / "schema.json"
        size = data.stat().st_size / (1 << 20)
        print(
            f"{arguments.rows:,} rows, {size:.0f} MiB ({'quoted' if arguments.quoted else 'unquoted'}), "
            f"generated in {time.perf_counter() - started:.1f}s; median of {arguments.runs} fresh processes",
            file=sys.stderr,
        )
        results = {tool: measure(tool, data, schema, arguments.runs) for tool in tools}
    floor = results.get("arrow")
    print("| tool | rows/s | seconds | peak RSS (MiB) | rows/s vs parse floor | RSS vs parse floor |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for tool, found in results.items():
        ratio = f"{found['rows_per_s'] / floor['rows_per_s']:.2f}" if floor else "-"
        rss = f"{found['rss_mib'] / floor['rss_mib']:.2f}" if floor else "-"
        speed, seconds, peak = f"{found['rows_per_s']:,.0f}", f"{found['seconds']:.2f}", f"{found['rss_mib']:.0f}"
        print(f"| {tool} | {speed} | {seconds} | {peak} | {ratio} | {rss} |")
    if "columnar" in results and "stdlib" in results:
        speedup = results["columnar"]["rows_per_s"] / results["stdlib"]["rows_per_s"]
        print(f"\ncolumnar / stdlib rows/s: {speedup:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
