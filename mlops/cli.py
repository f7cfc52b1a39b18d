"""The `mlops` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from mlops.local.constants import DEFAULT_SERVER_PORT


def _context_pair(text: str) -> tuple[str, Any]:
    key, separator, raw = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops", description="Serverless MLOps on AWS, and locally on moto.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the whole lifecycle on the embedded local AWS")
    demo.add_argument("--data", type=Path, help="a CSV to use instead of the default AI4I 2020 data")
    demo.add_argument("--schema", type=Path, help="the schema file describing --data")
    demo.add_argument("--json", dest="json_path", type=Path, help="also write the summary as JSON here")
    demo.add_argument("--sample", dest="sample_rows", type=int, help="use a random sample of this many rows")
    demo.add_argument("--no-drift", dest="drift", action="store_false", help="stop after the first deployment")
    demo.add_argument("--traffic-rows", type=int, default=400, help="rows sent per traffic phase (default 400)")
    demo.add_argument("--out", dest="out_dir", type=Path, default=Path("mlops-demo"),
                      help="folder for the drift report (default ./mlops-demo)")
    demo.add_argument("-c", "--context", type=_context_pair, action="append", default=[],
                      metavar="KEY=VALUE",
                      help="override a key of the `mlops` context, e.g. gate.thresholds.roc_auc=0.99")
    demo.add_argument("--quiet", action="store_true")
    demo.add_argument("--verbose", action="store_true", help="also print the Lambda functions' logs")

    synth = commands.add_parser("synth", help="synthesize the stacks and list what would be deployed")
    synth.add_argument("--out", type=Path, default=Path("cdk.out"))
    synth.add_argument("-c", "--context", type=_context_pair, action="append", default=[], metavar="KEY=VALUE")

    local = commands.add_parser("local", help="the local cloud")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    up = local_commands.add_parser("up", help="deploy into the local cloud and serve it on a loopback port")
    up.add_argument("--port", type=int, default=DEFAULT_SERVER_PORT)
    up.add_argument("-c", "--context", type=_context_pair, action="append", default=[], metavar="KEY=VALUE")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    if arguments.command == "demo":
        return _demo(arguments)
    if arguments.command == "synth":
        return _synth(arguments)
    return _local_up(arguments)


def _demo(arguments: argparse.Namespace) -> int:
    from mlops.demo.runner import DemoOptions, run_demo
    from mlops.local.assembly import SynthError
    from mlops.local.deployer import DeployError
    from pipelines.schema import SchemaError

    if arguments.data is not None and arguments.schema is None:
        print("mlops demo: --data needs --schema (the schema file that describes it)", file=sys.stderr)
        return 2
    for path in (arguments.data, arguments.schema):
        if path is not None and not path.is_file():
            print(f"mlops demo: no such file: {path}", file=sys.stderr)
            return 2
    options = DemoOptions(
        data=arguments.data, schema=arguments.schema, context=dict(arguments.context),
        sample_rows=arguments.sample_rows, traffic_rows=arguments.traffic_rows, drift=arguments.drift,
        json_path=arguments.json_path, out_dir=arguments.out_dir, quiet=arguments.quiet, verbose=arguments.verbose,
    )
    try:
        result = run_demo(options)
    except (SynthError, DeployError, SchemaError) as error:
        print(f"\nmlops demo: {error}", file=sys.stderr)
        return 1
    return 0 if result.ok else 1


def _synth(arguments: argparse.Namespace) -> int:
    from mlops.demo.runner import DemoOptions, merged_context
    from mlops.local.assembly import SynthError, project_root, synthesize

    root = project_root()
    config = merged_context(root, DemoOptions(context=dict(arguments.context)))
    try:
        assembly = synthesize(arguments.out.resolve(), context={"mlops": config}, root=root)
    except SynthError as error:
        print(f"{error.details}\n\n{error}", file=sys.stderr)
        return 1
    print(f"synthesized {len(assembly.stacks)} stacks into {arguments.out} (cdk-nag: no unacknowledged findings)")
    for stack in assembly.stacks:
        counts: dict[str, int] = {}
        for resource in stack.template.get("Resources", {}).values():
            counts[resource["Type"]] = counts.get(resource["Type"], 0) + 1
        print(f"\n{stack.name}: {sum(counts.values())} resources")
        for kind, count in sorted(counts.items()):
            print(f"  {count:3d}  {kind}")
    print("\n`npx cdk deploy --all` deploys them to the account and region of your AWS credentials.")
    return 0


def _local_up(arguments: argparse.Namespace) -> int:
    from mlops.demo.runner import DemoOptions, merged_context
    from mlops.local.assembly import project_root, synthesize
    from mlops.local.cloud import LocalCloud

    root = project_root()
    config = merged_context(root, DemoOptions(context=dict(arguments.context)))
    with LocalCloud(server_port=arguments.port) as cloud:
        assembly = synthesize(cloud.work_dir / "cdk.out", context={"mlops": config}, root=root)
        deployment = cloud.deploy(assembly)
        print(f"local cloud serving on {cloud.endpoint_url} (account 123456789012, region us-east-1)")
        for key, value in sorted(deployment.outputs.items()):
            print(f"  {key:<28} {value}")
        print(f"\ntry: AWS_ENDPOINT_URL={cloud.endpoint_url} AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x "
              f"aws --region us-east-1 s3 ls\nCtrl-C stops it.", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
