"""The `mlops` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mlops.local.constants import CLOCK_MODES, DEFAULT_SERVER_PORT


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

    demo = commands.add_parser(
        "demo",
        help="run the whole lifecycle on the embedded local AWS",
        description="Synthesizes the CDK app, deploys it into the embedded local AWS and runs the lifecycle step by "
        "step: upload -> validate -> train -> evaluate -> register -> deploy, predictions, labelled traffic, "
        "shifted traffic whose labels follow a changed relationship, the drift and quality alarms, the retraining "
        "they start, and a summary read back from the AWS APIs. It compresses time (the drift function's settle "
        "lag is one second, the demo fires the schedules itself); nothing else deploys that way.",
    )
    demo.add_argument("--data", type=Path, help="a CSV to use instead of the default AI4I 2020 data")
    demo.add_argument("--schema", type=Path, help="the schema file describing --data")
    demo.add_argument("--json", dest="json_path", type=Path, help="also write the summary as JSON here")
    demo.add_argument("--sample", dest="sample_rows", type=int, help="use a random sample of this many rows")
    demo.add_argument("--no-drift", dest="drift", action="store_false", help="stop after the first deployment")
    demo.add_argument("--traffic-rows", type=int, default=400, help="rows sent per traffic phase (default 400)")
    demo.add_argument(
        "--out",
        dest="out_dir",
        type=Path,
        default=Path("mlops-demo"),
        help="folder for the drift report (default ./mlops-demo)",
    )
    _context_option(demo, "override a key of the `mlops` context, e.g. gate.thresholds.roc_auc=0.99")
    demo.add_argument(
        "--quiet", action="store_true", help="print nothing but errors (the summary still goes to --json)"
    )
    demo.add_argument("--verbose", action="store_true", help="also print the Lambda functions' logs")

    _backtest_parser(commands)
    _preflight_parser(commands)
    _cost_parser(commands)
    _validate_parser(commands)
    _models_parsers(commands)

    synth = commands.add_parser(
        "synth",
        help="synthesize the stacks and list what would be deployed",
        description="Synthesizes the CDK app with cdk.json's `mlops` context (plus -c overrides), with the cdk-nag "
        "checks, and lists each stack's resources by type.",
    )
    synth.add_argument(
        "--out", type=Path, default=Path("cdk.out"), help="the cloud assembly folder (default ./cdk.out)"
    )
    _context_option(synth, "override a key of the `mlops` context for this synthesis, e.g. serving.instanceType=...")

    _local_parser(commands)
    _describe_subcommands(parser)
    return parser


def _context_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """-c/--context KEY=VALUE (repeatable): a dotted key of the `mlops` context and a JSON or text value."""
    parser.add_argument(
        "-c", "--context", type=_context_pair, action="append", default=[], metavar="KEY=VALUE", help=help_text
    )


def _describe_subcommands(parser: argparse.ArgumentParser) -> None:
    """A subcommand without a description shows its one-line help at the top of its own --help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, subparser in action.choices.items():
                subparser.description = subparser.description or helps.get(name)
                _describe_subcommands(subparser)


def _local_parser(commands: Any) -> None:
    local = commands.add_parser(
        "local",
        help="the local cloud: serve it on a loopback port, move its clock",
        description="The embedded local AWS (moto plus the adapters it lacks) as a server for the AWS CLI and "
        "boto3 (AWS_ENDPOINT_URL), with the deployed system in it and a clock of its own.",
    )
    local_commands = local.add_subparsers(dest="local_command", required=True)
    up = local_commands.add_parser(
        "up",
        help="deploy into the local cloud and serve it on a loopback port",
        description="Synthesizes the CDK app with cdk.json's `mlops` context (plus -c overrides, nothing else), "
        "deploys it into the local cloud and serves it on 127.0.0.1. EventBridge schedules fire and CloudWatch "
        "alarms are evaluated on the local cloud's own clock (--clock), so upload -> pipeline -> endpoint -> "
        "drift -> alarm -> retraining runs with the AWS CLI alone; `mlops local tick` moves the clock forward.",
    )
    up.add_argument(
        "--port",
        type=int,
        default=DEFAULT_SERVER_PORT,
        help=f"the loopback port (default {DEFAULT_SERVER_PORT}; 0 picks a free one)",
    )
    up.add_argument(
        "--clock",
        choices=CLOCK_MODES,
        default="real",
        help="real: schedules and alarm evaluations follow the wall clock (default); fast: the clock runs --speed "
        "times faster while no run is in flight; manual: nothing fires until `mlops local tick`",
    )
    up.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="with --clock fast: virtual minutes per real minute (default 60: the hourly drift check every minute)",
    )
    _context_option(up, "override a key of the `mlops` context, e.g. drift.scheduleMinutes=15")
    up.add_argument(
        "--verbose", action="store_true", help="also print the HTTP access log and the Lambda functions' logs"
    )

    tick = local_commands.add_parser(
        "tick",
        help="move a running local cloud's clock forward: due schedules fire, alarms are evaluated",
        description="Asks a running `mlops local up` (POST /_mlops/tick on its port) to move its clock forward. "
        "On the way, every schedule fires at its moment and the alarms are evaluated minute by minute; before "
        "each step the local cloud waits for the runs in flight, and the tick returns once the runs it started "
        "have finished. Prints what fired, the alarm transitions and the executions started.",
    )
    tick.add_argument(
        "--minutes", type=float, help="how far to move the clock (default: until the next scheduled rule fires)"
    )
    tick.add_argument(
        "--endpoint-url",
        help=f"the local cloud's URL (default: $AWS_ENDPOINT_URL, else http://127.0.0.1:{DEFAULT_SERVER_PORT})",
    )
    tick.add_argument("--json", dest="as_json", action="store_true", help="print the answer as JSON")


def _backtest_parser(commands: Any) -> None:
    backtest = commands.add_parser(
        "backtest",
        help="replay a labelled CSV through the local cloud and compare retraining policies",
        description="Replays a labelled CSV in order through the local cloud on a virtual clock: the initial part "
        "trains the first model, each later window is endpoint traffic whose labels arrive later as "
        "ground truth; drift and quality checks, alarms and retraining run as deployed. Without --data "
        "it replays the generated stream (mlops/backtest/generator.py: harmless drift, two concept "
        "changes).",
    )
    backtest.add_argument("--data", type=Path, help="the labelled CSV to replay (default: the generated stream)")
    backtest.add_argument("--schema", type=Path, help="the schema file describing --data")
    order = backtest.add_mutually_exclusive_group()
    order.add_argument(
        "--time-column",
        help="order rows and move the clock by this column (default: the schema's column with role time)",
    )
    order.add_argument(
        "--order", choices=["file"], help="keep the file's order; windows are drift.scheduleMinutes apart"
    )
    backtest.add_argument(
        "--initial-fraction",
        type=float,
        default=0.2,
        help="share of the rows uploaded as the first training data (default 0.2)",
    )
    backtest.add_argument("--window", dest="window_rows", type=int, help="rows per window (default 1000)")
    backtest.add_argument(
        "--label-delay", type=int, default=1, help="windows until a window's labels arrive (default 1)"
    )
    backtest.add_argument(
        "--policy",
        choices=["drift", "never", "every", "all"],
        default="all",
        help="retraining policy; all runs the three side by side (default)",
    )
    _context_option(backtest, "override a key of the `mlops` context for every policy")
    backtest.add_argument("--json", dest="json_path", type=Path, help="write the results as JSON here")
    backtest.add_argument(
        "--plot",
        dest="plot_path",
        type=Path,
        default=Path("mlops-backtest") / "accuracy.png",
        help="the accuracy PNG (default mlops-backtest/accuracy.png)",
    )
    backtest.add_argument("--jobs", type=int, help="policies replayed at once (default: min(3, CPUs))")
    backtest.add_argument("--rows", type=int, help="rows of the generated stream (default 20000)")
    backtest.add_argument("--seed", type=int, help="seed of the generated stream")
    backtest.add_argument(
        "--generate", type=int, metavar="N", help="only write a generated stream of N rows (CSV and schema) into --out"
    )
    backtest.add_argument(
        "--out", type=Path, default=Path("mlops-backtest"), help="folder for --generate (default ./mlops-backtest)"
    )
    backtest.add_argument("--quiet", action="store_true", help="no progress line")


def _stage_options(parser: argparse.ArgumentParser, region_fallback: str) -> None:
    """--stage, --region and --assembly, shared by preflight and cost."""
    parser.add_argument(
        "--stage",
        help="the stage to judge: a key of mlops.stages in cdk.json, synthesized as "
        "`-c stage=NAME` (default: cdk.json's mlops context as it stands)",
    )
    parser.add_argument(
        "--region", help=f"the AWS region (default: the stage's region, else the AWS configuration's{region_fallback})"
    )
    parser.add_argument(
        "--assembly",
        type=Path,
        metavar="CDK_OUT",
        help="read this already synthesized cloud assembly instead of synthesizing the stage",
    )


def _preflight_parser(commands: Any) -> None:
    preflight = commands.add_parser(
        "preflight",
        help="check that the AWS account can take a deployment of the stage (read-only calls)",
        description="Read-only checks of the account behind your credentials: the CDK bootstrap version the "
        "assembly requires, each Lambda layer version in the region, the framework image in the "
        "region, the SageMaker instance quotas for training and the endpoint, and the OIDC deploy "
        "role. Prints pass/fail with the fix for each; exits 1 if any fails or cannot be checked.",
    )
    _stage_options(preflight, "")
    preflight.add_argument("--profile", help="the AWS CLI profile to use (default: the default credential chain)")
    preflight.add_argument(
        "--role-name",
        help="the OIDC deploy role to look for (default: the stage's deployRoleName, else the role the app defines)",
    )


def _cost_parser(commands: Any) -> None:
    from mlops.deploy.cost import Assumptions

    defaults = Assumptions()
    cost = commands.add_parser(
        "cost",
        help="estimate the stage's monthly cost from its synthesized templates and usage assumptions",
        description="Prices what the stage's templates deploy (functions and their memory, schedules, the state "
        "machine's transitions, training and endpoint instances, alarms, dashboards, metrics, storage) "
        "at the on-demand list prices in mlops/deploy/prices.json, under the usage assumptions below.",
    )
    _stage_options(cost, ", else us-east-1")
    cost.add_argument(
        "--uploads-per-day",
        type=float,
        default=defaults.uploads_per_day,
        help=f"CSV uploads a day; each starts a run (default {defaults.uploads_per_day:g})",
    )
    cost.add_argument(
        "--rows",
        type=int,
        default=defaults.rows,
        help=f"rows per uploaded file and per training run (default {defaults.rows})",
    )
    cost.add_argument(
        "--predictions-per-day",
        type=float,
        default=defaults.predictions_per_day,
        help=f"endpoint predictions a day (default {defaults.predictions_per_day:g})",
    )
    cost.add_argument(
        "--label-files-per-day",
        type=float,
        default=defaults.label_files_per_day,
        help=f"ground-truth label files a day (default {defaults.label_files_per_day:g})",
    )
    cost.add_argument(
        "--retrains-per-month",
        type=float,
        default=defaults.alarm_retrains_per_month,
        help="retrainings a month started by the drift or quality alarm "
        f"(default {defaults.alarm_retrains_per_month:g})",
    )
    cost.add_argument(
        "--training-seconds-per-row",
        type=float,
        default=defaults.training_seconds_per_row,
        help=f"training time per row (default {defaults.training_seconds_per_row:g}, measured with "
        "python -m pipelines.train on data/ai4i2020.csv)",
    )
    cost.add_argument(
        "--lambda-seconds",
        type=float,
        default=defaults.lambda_seconds,
        help=f"mean billed duration of a Lambda invocation (default {defaults.lambda_seconds:g})",
    )
    cost.add_argument("--prices", type=Path, help="a prices file in the format of mlops/deploy/prices.json")


def _models_parsers(commands: Any) -> None:
    from mlops.models_cmd import add_parsers

    add_parsers(commands)


def _validate_parser(commands: Any) -> None:
    from mlops.validate_cmd import add_parser

    add_parser(commands)


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    if arguments.command == "demo":
        return _demo(arguments)
    if arguments.command == "backtest":
        return _backtest(arguments)
    if arguments.command == "synth":
        return _synth(arguments)
    if arguments.command == "preflight":
        return _preflight(arguments)
    if arguments.command == "cost":
        return _cost(arguments)
    if arguments.command == "validate":
        from mlops.validate_cmd import run

        return run(arguments)
    from mlops.models_cmd import COMMANDS as MODEL_COMMANDS

    if arguments.command in MODEL_COMMANDS:
        from mlops.models_cmd import run as run_models_command

        return run_models_command(arguments)
    return _local(arguments)


def _demo(arguments: argparse.Namespace) -> int:
    from mlops.demo.runner import DemoOptions, merged_context, run_demo
    from mlops.local.assembly import SynthError, project_root
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
        data=arguments.data,
        schema=arguments.schema,
        context=dict(arguments.context),
        sample_rows=arguments.sample_rows,
        traffic_rows=arguments.traffic_rows,
        drift=arguments.drift,
        json_path=arguments.json_path,
        out_dir=arguments.out_dir,
        quiet=arguments.quiet,
        verbose=arguments.verbose,
    )
    try:
        merged_context(project_root(), options)
    except ValueError as error:  # a -c key whose parent is not an object
        print(f"mlops demo: {error}", file=sys.stderr)
        return 2
    try:
        result = run_demo(options)
    except (SynthError, DeployError, SchemaError) as error:
        print(f"\nmlops demo: {error}", file=sys.stderr)
        return 1
    return 0 if result.ok else 1


def _backtest(arguments: argparse.Namespace) -> int:
    from mlops.backtest import generator
    from mlops.backtest.runner import BacktestOptions, run_backtest
    from mlops.backtest.windows import BacktestInputError
    from mlops.local.assembly import SynthError

    seed = generator.DEFAULT_SEED if arguments.seed is None else arguments.seed
    if arguments.generate is not None:
        if arguments.generate < 10:
            print("mlops backtest: --generate needs at least 10 rows", file=sys.stderr)
            return 1
        data, schema = generator.write_stream(arguments.out, arguments.generate, seed=seed)
        print(
            f"wrote {data} and {schema} ({arguments.generate} rows; concept changes at "
            f"{', '.join(f'{f:.0%}' for f in generator.CHANGE_FRACTIONS)} of the rows)"
        )
        return 0
    if arguments.data is not None and (arguments.rows is not None or arguments.seed is not None):
        print(
            "mlops backtest: --rows and --seed shape the generated stream; they do not apply to --data", file=sys.stderr
        )
        return 1
    if arguments.jobs is not None and arguments.jobs < 1:
        print("mlops backtest: --jobs must be at least 1", file=sys.stderr)
        return 1
    options = BacktestOptions(
        data=arguments.data,
        schema=arguments.schema,
        time_column=arguments.time_column,
        file_order=arguments.order == "file",
        initial_fraction=arguments.initial_fraction,
        window_rows=arguments.window_rows,
        label_delay=arguments.label_delay,
        policy=arguments.policy,
        context=dict(arguments.context),
        json_path=arguments.json_path,
        plot_path=arguments.plot_path,
        jobs=arguments.jobs,
        quiet=arguments.quiet,
        seed=seed,
        generate_rows=arguments.rows or generator.DEFAULT_ROWS,
    )
    try:
        result = run_backtest(options)
    except (BacktestInputError, SynthError) as error:
        print(f"mlops backtest: {error}", file=sys.stderr)
        return 1
    return 0 if result.ok else 1


def _synth(arguments: argparse.Namespace) -> int:
    from mlops.local.assembly import SynthError, project_root, synthesize
    from mlops.local.context import mlops_context

    root = project_root()
    try:
        config = mlops_context(root, dict(arguments.context))
    except ValueError as error:
        print(f"mlops synth: {error}", file=sys.stderr)
        return 2
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


def _preflight(arguments: argparse.Namespace) -> int:
    from mlops.deploy.commands import preflight_command

    return preflight_command(
        stage_name=arguments.stage,
        region=arguments.region,
        profile=arguments.profile,
        assembly_dir=arguments.assembly,
        role_name=arguments.role_name,
    )


def _cost(arguments: argparse.Namespace) -> int:
    from mlops.deploy.commands import cost_command
    from mlops.deploy.cost import Assumptions
    from mlops.deploy.prices import DEFAULT_PRICES

    try:
        assumptions = Assumptions(
            uploads_per_day=arguments.uploads_per_day,
            rows=arguments.rows,
            predictions_per_day=arguments.predictions_per_day,
            label_files_per_day=arguments.label_files_per_day,
            alarm_retrains_per_month=arguments.retrains_per_month,
            training_seconds_per_row=arguments.training_seconds_per_row,
            lambda_seconds=arguments.lambda_seconds,
        )
    except ValueError as error:
        print(f"mlops cost: {error}", file=sys.stderr)
        return 2
    return cost_command(
        stage_name=arguments.stage,
        region=arguments.region,
        assumptions=assumptions,
        assembly_dir=arguments.assembly,
        prices_path=arguments.prices or DEFAULT_PRICES,
    )


def _local(arguments: argparse.Namespace) -> int:
    from mlops.local.serve import UpOptions, local_tick, local_up

    if arguments.local_command == "tick":
        return local_tick(arguments.endpoint_url, arguments.minutes, as_json=arguments.as_json)
    options = UpOptions(
        port=arguments.port,
        clock=arguments.clock,
        speed=arguments.speed,
        context=dict(arguments.context),
        verbose=arguments.verbose,
    )
    return local_up(options)


if __name__ == "__main__":
    sys.exit(main())
