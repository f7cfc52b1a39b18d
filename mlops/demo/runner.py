"""`mlops demo`: the whole lifecycle on the local cloud, step by step, with a summary at the end.

1. synthesize the CDK app and deploy its templates into the embedded AWS;
2. upload the dataset to the incoming bucket — S3 -> EventBridge -> trigger λ -> the state machine
   (validate, train, evaluate, register, deploy), followed state by state;
3. send predictions to the endpoint (captured to S3);
4. in-distribution traffic (each request with an InferenceId) and then its true labels as a
   ground-truth file: the ground-truth function joins them with the capture, publishes model quality
   and adds the labelled rows to the dataset as a new batch; the drift schedule fires; both alarms
   stay OK;
5. shifted traffic whose labels follow a changed relationship (a concept change, see
   `mlops.demo.traffic.ConceptChange`): drift is detected and the served model's quality collapses,
   the alarms go to ALARM, EventBridge wakes the trigger, and a retraining on the window that now
   holds the new labelled batches produces v2, which must beat v1 on the newest labelled rows
   (neither was trained on them) to replace it on the endpoint;
6. a summary read back from the AWS APIs (and as JSON with `--json`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.demo import summary, traffic
from mlops.demo.progress import Console, ExecutionPrinter
from mlops.local.assembly import project_root, read_assembly, synthesize
from mlops.local.cloud import LocalCloud
from mlops.local.context import mlops_context
from pipelines.schema import load_schema


@dataclass
class DemoOptions:
    data: Path | None = None
    schema: Path | None = None
    context: dict[str, Any] = field(default_factory=dict)  # dotted keys under the `mlops` context
    sample_rows: int | None = None
    traffic_rows: int = 400
    shifted_rows: int = 1000  # the concept change needs enough labelled rows to learn from
    batch_size: int = 50
    drift: bool = True
    json_path: Path | None = None
    out_dir: Path = Path("mlops-demo")
    work_dir: Path | None = None
    assembly_dir: Path | None = None  # an already synthesized cloud assembly (skips synthesis)
    seed: int = 7
    quiet: bool = False
    verbose: bool = False  # echo the Lambda functions' logs to stderr


@dataclass
class DemoResult:
    ok: bool
    summary: dict[str, Any]


def merged_context(root: Path, options: DemoOptions) -> dict[str, Any]:
    """cdk.json's `mlops` context with the demo's own overrides, then the user's, applied (dotted keys).

    The demo's own: it compresses time by firing the drift schedule itself right after the
    traffic, so the drift function holds back one second of capture (S3's LastModified
    resolution) instead of two minutes; `_checks` waits two seconds before firing so the window
    holds all the traffic. Deployments poll the endpoint every second and bake a blue/green update
    for one second (no traffic reaches it meanwhile). Nothing else deploys with these overrides
    (`mlops synth` and `mlops local up` deploy cdk.json as it is).
    """
    overrides: dict[str, Any] = {
        "drift.settleSeconds": 1,
        "serving.endpointPollSeconds": 1,
        "serving.deployment.waitSeconds": 1,
        "serving.deployment.terminationWaitSeconds": 0,
        **options.context,
    }
    if options.schema:
        overrides["schemaFile"] = str(options.schema.resolve())
    return mlops_context(root, overrides)


def run_demo(options: DemoOptions) -> DemoResult:
    console = Console(quiet=options.quiet)
    for noisy in ("moto", "werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    root = project_root()
    config = merged_context(root, options)
    schema = load_schema(
        root / config["schemaFile"] if not Path(config["schemaFile"]).is_absolute() else Path(config["schemaFile"])
    )
    data_path = (options.data or root / "data" / "ai4i2020.csv").resolve()
    rows = traffic.read_rows(data_path)
    if options.sample_rows:
        rows = traffic.sample_rows(rows, options.sample_rows, options.seed)
    options.out_dir.mkdir(parents=True, exist_ok=True)

    console.line(f"mlops demo: {schema.name} ({len(rows)} rows from {data_path.name}), model {config['modelName']}")
    started = time.perf_counter()
    with LocalCloud(options.work_dir, echo_lambda_logs=options.verbose) as cloud:
        with console.step("Synthesizing the CDK app (cdk-nag checks included)") as step:
            if options.assembly_dir:
                assembly = read_assembly(options.assembly_dir)
            else:
                assembly = synthesize(cloud.work_dir / "cdk.out", context={"mlops": config}, root=root)
            step["note"] = f"{len(assembly.stacks)} stacks, {len(assembly.assets)} assets"
        with console.step("Deploying the templates into the local cloud") as step:
            deployment = cloud.deploy(assembly)
            resources = summary.Resources.from_outputs(deployment.outputs, config["uploadPrefix"])
            step["note"] = ", ".join(s.name for s in assembly.stacks)

        report: dict[str, Any] = {"dataset": schema.name, "rows": len(rows), "phases": []}
        console.heading("1. Upload -> validate -> train -> evaluate -> register -> deploy")
        upload_key = f"{resources.upload_prefix}{data_path.stem}.csv"
        upload_file = cloud.work_dir / "upload.csv"
        traffic.write_csv(rows, upload_file)
        cloud.client("s3").upload_file(str(upload_file), resources.incoming_bucket, upload_key)
        console.line(f"  uploaded s3://{resources.incoming_bucket}/{upload_key}")
        first = _follow_new_execution(cloud, resources, console, known=set())

        served = summary.endpoint(cloud, resources)
        if served and served["status"] == "InService":
            console.heading("2. Predictions")
            report["phases"].append(_predict(cloud, resources, schema, rows, options, console, "predictions", seed=1))
        else:
            console.line("  no endpoint is serving (the model was rejected or the run failed): nothing to predict")

        if options.drift and served:
            console.heading("3. Labelled in-distribution traffic")
            phase = _predict(cloud, resources, schema, rows, options, console, "in-distribution", seed=2)
            report["phases"].append(phase)
            target = schema.target_column.name
            _send_labels(cloud, resources, console, phase, [row[target] for row in phase.pop("rows_sent")])
            _checks(cloud, resources, console)

            importance = summary.serving_baseline(cloud, resources).get("importance")
            shift = traffic.plan_shift(schema, rows, importance)
            concept = traffic.plan_concept_change(schema, rows, importance, exclude=shift.features)
            console.heading(f"4. Shifted traffic ({shift.describe()}); {concept.describe()}")
            shifted = traffic.apply_shift(schema, rows, shift)
            phase = _predict(
                cloud,
                resources,
                schema,
                shifted,
                options,
                console,
                "shifted",
                seed=3,
                shift=shift,
                count=options.shifted_rows,
            )
            phase["conceptChange"] = concept.describe()
            report["phases"].append(phase)
            _send_labels(cloud, resources, console, phase, concept.labels(schema, phase.pop("rows_sent")))
            known = {e["name"] for e in summary.executions(cloud, resources)}
            _checks(cloud, resources, console)
            if len(summary.executions(cloud, resources)) > len(known):
                console.heading("5. Retraining started by an alarm")
                _follow_new_execution(cloud, resources, console, known=known)
                _predict(cloud, resources, schema, rows, options, console, "after retraining", seed=4)
            else:
                console.line("  no retraining was started (see the trigger's skip reason in the summary)")

        result = _summarize(cloud, resources, report, first, options, console, time.perf_counter() - started)
    return result


def _follow_new_execution(
    cloud: LocalCloud, resources: summary.Resources, console: Console, known: set[str]
) -> dict[str, Any]:
    cloud.drain_events()
    sfn = cloud.client("stepfunctions")
    new = [
        e
        for e in sfn.list_executions(stateMachineArn=resources.state_machine_arn)["executions"]
        if e["name"] not in known
    ]
    if not new:
        raise RuntimeError("no execution was started: check the trigger function's logs in the summary")
    execution = max(new, key=lambda e: e["startDate"])
    execution_input = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    console.line(f"  execution {execution['name']} (reason: {execution_input.get('reason')})")
    printer = ExecutionPrinter(console)
    described = cloud.wait_for_execution(execution["executionArn"], on_event=printer)
    console.line(f"  -> {described['status']}")
    return {"name": execution["name"], "status": described["status"], "states": printer.states}


def _predict(
    cloud: LocalCloud,
    resources: summary.Resources,
    schema: Any,
    rows: list[dict[str, str]],
    options: DemoOptions,
    console: Console,
    label: str,
    *,
    seed: int,
    shift: traffic.Shift | None = None,
    count: int | None = None,
) -> dict[str, Any]:
    """Send rows to the endpoint, each request with an InferenceId; the ids label the rows later."""
    runtime = cloud.client("sagemaker-runtime")
    chosen = traffic.sample_rows(rows, count or options.traffic_rows, options.seed * 100 + seed)
    with console.step(f"Sending {len(chosen)} rows ({label}) to endpoint {resources.endpoint_name}") as step:
        prefix = f"{label.replace(' ', '-')}-{seed}"
        ids, predictions = traffic.predict(runtime, resources.endpoint_name, schema, chosen, options.batch_size, prefix)
        flagged = sum(1 for p in predictions if p["label"] == 1)
        step["note"] = f"{flagged} predicted positive"
    return {
        "phase": label,
        "rows": len(chosen),
        "predictedPositive": flagged,
        "shift": shift.describe() if shift else None,
        "ids": ids,
        "rows_sent": chosen,
    }


def _send_labels(
    cloud: LocalCloud, resources: summary.Resources, console: Console, phase: dict[str, Any], labels: list[str]
) -> None:
    """The labels of a phase's traffic arrive as a ground-truth file; the ground-truth function joins them."""
    key = f"{resources.ground_truth_prefix}{phase['phase'].replace(' ', '-')}.csv"
    with console.step(f"Labels for {len(labels)} rows arrive as s3://{resources.incoming_bucket}/{key}") as step:
        cloud.client("s3").put_object(
            Bucket=resources.incoming_bucket, Key=key, Body=traffic.ground_truth_csv(phase.pop("ids"), labels)
        )
        cloud.drain_events()
        reports = summary.quality_reports(cloud, resources)
        latest = summary.quality_window(reports[-1]["report"]) if reports else {}
        metrics = latest.get("metrics") or {}
        step["note"] = (
            f"joined {latest.get('joined', 0)}, accuracy {_fmt(metrics.get('accuracy'))}, "
            f"ROC-AUC {_fmt(metrics.get('rocAuc'))}, drop {_fmt(latest.get('qualityDrop'))}, "
            f"new batch {latest.get('batch') or '-'}"
        )


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def _checks(cloud: LocalCloud, resources: summary.Resources, console: Console) -> None:
    """The drift schedule fires, then CloudWatch evaluates both alarms (their events reach the trigger)."""
    with console.step("Drift schedule fires: drift function compares the window with the baseline") as step:
        time.sleep(2.0)  # the window ends a settle second before now, on a whole second
        cloud.fire_schedule(resources.drift_schedule_rule)
        reports = summary.drift_reports(cloud, resources)
        latest = reports[-1]["report"] if reports else {}
        drifted = [f["name"] for f in latest.get("features", []) if f.get("drifted")]
        step["note"] = f"verdict {latest.get('verdict', 'none')}" + (f": {', '.join(drifted)}" if drifted else "")
    with console.step("CloudWatch evaluates the drift and quality alarms") as step:
        transitions = cloud.evaluate_alarms()
        notes = []
        for name in resources.alarms:
            state = cloud.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
            moved = [f"{t.previous} -> {t.current}" for t in transitions if t.alarm_name == name]
            notes.append(f"{name}: {moved[0] if moved else state['StateValue'] + ' (unchanged)'}")
        step["note"] = "; ".join(notes)


def _summarize(
    cloud: LocalCloud,
    resources: summary.Resources,
    report: dict[str, Any],
    first: dict[str, Any],
    options: DemoOptions,
    console: Console,
    seconds: float,
) -> DemoResult:
    executions = summary.executions(cloud, resources)
    versions = summary.model_versions(cloud, resources)
    served = summary.endpoint(cloud, resources)
    drift = summary.drift_reports(cloud, resources)
    captured = summary.count_objects(cloud, resources.artifacts_bucket, "datacapture/")
    result = {
        **report,
        "seconds": round(seconds, 1),
        "executions": executions,
        "modelVersions": versions,
        "endpoint": served,
        "captureObjects": captured,
        "alarmTransitions": summary.alarm_history(cloud, resources),
        "quality": [
            summary.quality_window(q["report"]) | {"key": q["key"]} for q in summary.quality_reports(cloud, resources)
        ],
        "drift": [
            {
                "key": d["key"],
                "verdict": d["report"].get("verdict"),
                "records": d["report"].get("records"),
                "driftShare": d["report"].get("driftShare"),
                "predictionPsi": d["report"].get("predictionPsi"),
                "drifted": [f["name"] for f in d["report"].get("features", []) if f.get("drifted")],
            }
            for d in drift
        ],
        "lambdaInvocations": len(cloud.lambdas.invocations),
        "eventDeliveryFailures": cloud.events.failed if cloud.events else [],
        # Function errors of asynchronous invocations (retried, then sent to the on-failure destination).
        "asyncInvocationFailures": [
            {"function": f["function"], "error": (f.get("responsePayload") or {}).get("errorType")}
            for f in cloud.lambdas.async_failures
        ],
    }
    if drift:
        html_key = drift[-1]["key"].replace("report.json", "report.html")
        html = cloud.client("s3").get_object(Bucket=resources.artifacts_bucket, Key=html_key)["Body"].read()
        (options.out_dir / "drift-report.html").write_bytes(html)
        result["driftReportHtml"] = str(options.out_dir / "drift-report.html")
    _print_summary(result, console)
    if options.json_path:
        options.json_path.parent.mkdir(parents=True, exist_ok=True)
        options.json_path.write_text(json.dumps(result, indent=2, default=str))
        console.line(f"\nsummary written to {options.json_path}")
    ok = first["status"] == "SUCCEEDED" and all(e["status"] == "SUCCEEDED" for e in executions)
    return DemoResult(ok=ok, summary=result)


def _print_summary(result: dict[str, Any], console: Console) -> None:
    console.heading(f"Summary ({result['seconds']} s)")
    console.line("  executions:")
    for e in result["executions"]:
        extra = f"  {e['error']}: {e['cause'][:160]}" if e.get("error") else ""
        end = e.get("endState") or "-"
        console.line(f"    {e['name']:<40} reason={e['reason']:<8} {e['status']:<10} {end:<16} {e['seconds']} s{extra}")
        if e.get("deployment") and e["deployment"].get("why"):
            console.line(f"        deployment: {e['deployment']['why']}")
    console.line("  model versions:")
    for v in result["modelVersions"]:
        metrics = ", ".join(f"{k}={v_:.3f}" for k, v_ in v["metrics"].items() if isinstance(v_, int | float))
        serving = "  SERVING" if v.get("serving") else ""
        console.line(f"    v{v['version']}: {v['approval']:<9} reason={v['reason']}  {metrics}{serving}")
        champion = v.get("championMetrics")
        holdout = v.get("holdout") or {}
        if champion and holdout.get("rows"):
            console.line(
                f"        on the newest {holdout['rows']} labelled rows (unseen by both): "
                f"roc_auc {v['metrics']['roc_auc']:.3f} vs champion {champion['roc_auc']:.3f}, "
                f"accuracy {v['metrics']['accuracy']:.3f} vs {champion['accuracy']:.3f}"
            )
        for failed in (r for r in v["gate"] if r.startswith("FAIL")):
            console.line(f"        {failed}")
    served = result["endpoint"]
    if served:
        console.line(
            f"  endpoint: {served['name']} {served['status']} serving {served['model']}"
            f" ({served['modelPackageArn']}), data capture {'on' if served['dataCapture'] else 'off'}"
        )
    else:
        console.line("  endpoint: none")
    console.line(f"  data-capture objects: {result['captureObjects']}")
    for t in result["alarmTransitions"]:
        console.line(f"  alarm {t['alarm']}: {t['from']} -> {t['to']} at {t['at']}")
    for q in result["quality"]:
        m = q["metrics"] or {}
        console.line(
            f"  quality window: joined={q['joined']} accuracy={_fmt(m.get('accuracy'))} "
            f"roc_auc={_fmt(m.get('rocAuc'))} drop={_fmt(q['qualityDrop'])} new batch={q['batch'] or '-'}"
        )
    for d in result["drift"]:
        psi = "-" if d["predictionPsi"] is None else f"{d['predictionPsi']:.3f}"
        console.line(
            f"  drift window: verdict={d['verdict']:<17} records={d['records']:<4} "
            f"share={d['driftShare']:.2f} prediction PSI={psi} drifted={', '.join(d['drifted']) or '-'}"
        )
    if result.get("driftReportHtml"):
        console.line(f"  drift report (open in a browser): {result['driftReportHtml']}")
