"""``mlops validate``: the validate Lambda's checks on a local file, as text or JSON, with exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.cli import main

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / "schemas" / "ai4i2020.schema.json"
DATA = ROOT / "data" / "ai4i2020.csv"


@pytest.fixture
def damaged(tmp_path) -> Path:
    lines = DATA.read_text(encoding="utf-8").splitlines()
    fields = lines[5].split(",")
    fields[6] = "abc"  # Torque [Nm] is not a number on line 6
    lines[5] = ",".join(fields)
    path = tmp_path / "damaged.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_valid_file_exits_0_with_its_profile(capsys):
    assert main(["validate", str(DATA), "--schema", str(SCHEMA)]) == 0
    out = capsys.readouterr()
    assert f"{DATA}: valid against schema 'ai4i2020'" in out.out
    assert "10,000 rows, 339 positive (3.39%), 0 duplicate rows" in out.out
    assert "L: 6,000, M: 2,997, H: 1,003" in out.out
    assert out.err == ""  # no progress line when stderr is not a terminal


def test_an_invalid_file_exits_1_naming_the_failure(capsys, damaged):
    assert main(["validate", str(damaged), "--schema", str(SCHEMA)]) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out and "1 failed check(s)" in out
    assert "column 'Torque [Nm]': type (1 value(s) are not of type float; first at line(s) 6; e.g. 'abc')" in out


def test_json_is_the_lambda_report(capsys, damaged):
    assert main(["validate", str(damaged), "--schema", str(SCHEMA), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False and report["rows"] == 10000 and report["file"] == str(damaged)
    assert report["failures"] == [
        {
            "check": "type",
            "column": "Torque [Nm]",
            "count": 1,
            "lines": [6],
            "examples": ["abc"],
            "message": "1 value(s) are not of type float",
        }
    ]


def test_usage_errors_exit_2(capsys, tmp_path):
    assert main(["validate", str(tmp_path / "missing.csv"), "--schema", str(SCHEMA)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["validate", str(DATA), "--schema", str(tmp_path / "missing.json")]) == 2
    bad = tmp_path / "bad.schema.json"
    bad.write_text("{}")
    assert main(["validate", str(DATA), "--schema", str(bad)]) == 2
    assert "schema field" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:  # no --schema at all: argparse's usage error
        main(["validate", str(DATA)])
    assert raised.value.code == 2


def test_progress_goes_to_a_terminal_stderr(capsys, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("mlops.validate_cmd._PROGRESS_SECONDS", 0.0)
    assert main(["validate", str(DATA), "--schema", str(SCHEMA)]) == 0
    assert "validating: 10,000 rows so far" in capsys.readouterr().err
