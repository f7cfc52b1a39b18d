"""``python tests/e2e/corpus [--json PATH]``: synthesize, deploy locally, run the corpus, print the table.

(Run as a directory: ``python -m tests.e2e.corpus`` would need ``tests`` to be a package, and some
installed distributions ship a top-level ``tests`` package that would shadow this one.)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from mlops.demo.runner import DemoOptions, merged_context
from mlops.local.assembly import project_root, synthesize
from mlops.local.cloud import LocalCloud

if __package__:
    from .runner import Corpus
else:  # run as `python tests/e2e/corpus`: import the package from its parent folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from corpus.runner import Corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tests/e2e/corpus", description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    arguments = parser.parse_args(argv)
    for noisy in ("moto", "werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    root = project_root()
    with tempfile.TemporaryDirectory(prefix="mlops-corpus-") as scratch:
        work = Path(scratch)
        assembly = synthesize(work / "cdk.out", context={"mlops": merged_context(root, DemoOptions())}, root=root)
        with LocalCloud(work / "cloud", retry_wait_scale=0.2) as cloud:
            deployment = cloud.deploy(assembly)
            report = Corpus(cloud, deployment.outputs, work).run()
    print(report.table())
    if arguments.json:
        rows = [
            {
                "case": row.case.name,
                "expected": row.case.expected.describe(),
                "observed": row.observed.describe(),
                "ok": row.ok,
            }
            for row in report.rows
        ]
        document = {"rows": rows, "crashes": report.crashes, "lost": report.lost, "uploads": report.uploads}
        arguments.json.write_text(json.dumps(document, indent=2))
    return 0 if all(row.ok for row in report.rows) and not report.crashes and not report.lost else 1


if __name__ == "__main__":
    sys.exit(main())
