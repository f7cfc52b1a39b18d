"""What `mlops local up` and `mlops local tick` print: the outputs table and the clock's reports."""

from mlops.local.serve import outputs_table, report_lines

EXPORT = "ExportsOutputFnGetAttTriggerFunctionAD2A6013Arn4BA86D60"


def test_long_output_names_stand_on_their_own_line_and_the_values_stay_aligned():
    lines = outputs_table(
        {"mlops-data": {"IncomingBucketName": "in"}, "mlops-pipeline": {EXPORT: "arn:aws:lambda:x", "A": "a"}},
        column=20,
    )
    assert lines == [
        "  mlops-data",
        "    IncomingBucketName   in",
        "  mlops-pipeline",
        "    A                    a",
        f"    {EXPORT}",
        "                         arn:aws:lambda:x",
    ]
    assert lines[1].rindex("in") == lines[-1].index("arn:") == 4 + 20 + 1  # the values share one column


def test_a_report_reads_in_the_order_things_happened():
    report = {
        "fired": [{"rule": "drift", "at": "2026-01-01T01:00:00Z"}],
        "alarmTransitions": [{"alarm": "a", "from": "OK", "to": "ALARM", "at": "2026-01-01T01:01:00Z"}],
        "executionsStarted": [{"name": "quality-1", "at": "2026-01-01T00:30:00Z"}],
    }
    assert report_lines(report) == [
        "  [2026-01-01T00:30:00Z] execution quality-1 started",
        "  [2026-01-01T01:00:00Z] schedule drift fired",
        "  [2026-01-01T01:01:00Z] alarm a: OK -> ALARM",
    ]
    assert report_lines({}) == []
