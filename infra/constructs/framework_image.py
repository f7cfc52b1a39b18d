"""The SageMaker scikit-learn framework image, for training and for serving, in any region.

The stacks are region-agnostic, but the image lives in a per-region ECR registry owned by a
per-region AWS account. The SageMaker SDK knows that table offline, so synthesis asks it once per
region and writes a ``CfnMapping`` (region -> image URIs, registry account); the template then
picks its region's row with ``Fn::FindInMap``. A region without the image fails at deploy with a
missing-key error instead of pulling a wrong image.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import aws_cdk as cdk
from constructs import Construct

__all__ = ["FRAMEWORK", "FrameworkImages", "ImageRow", "resolve_image_table"]

FRAMEWORK = "sklearn"


@dataclass(frozen=True)
class ImageRow:
    """The training and inference image of one region, and the accounts owning their registries."""

    training_image: str
    inference_image: str

    @staticmethod
    def registry_account(uri: str) -> str:
        return uri.split(".", 1)[0]

    @staticmethod
    def repository(uri: str) -> str:
        return uri.split("/", 1)[1].split(":", 1)[0]


@functools.lru_cache(maxsize=8)
def resolve_image_table(
    framework_version: str, training_instance_type: str, serving_instance_type: str
) -> dict[str, ImageRow]:
    """Region -> image URIs for the framework version, for every region the SageMaker SDK knows.

    Cached per process: tests and the local cloud synthesize several apps, and asking the SDK
    for every region costs a few seconds.
    """
    from sagemaker.core import image_uris  # heavy import, only at synth

    regions: set[str] = set()
    for scope in ("training", "inference"):
        for version in image_uris.config_for_framework(FRAMEWORK)[scope]["versions"].values():
            regions.update(version.get("registries", {}))
    table: dict[str, ImageRow] = {}
    for region in sorted(regions):
        try:
            training = image_uris.retrieve(
                FRAMEWORK,
                region=region,
                version=framework_version,
                image_scope="training",
                instance_type=training_instance_type,
            )
            inference = image_uris.retrieve(
                FRAMEWORK,
                region=region,
                version=framework_version,
                image_scope="inference",
                instance_type=serving_instance_type,
            )
        except ValueError:  # this version is not published in this region
            continue
        table[region] = ImageRow(training_image=training, inference_image=inference)
    if not table:
        raise ValueError(
            f"mlops.training.frameworkVersion {framework_version!r}: the SageMaker SDK knows no "
            f"{FRAMEWORK} image of that version in any region"
        )
    return table


class FrameworkImages(Construct):
    """A region -> image mapping in the stack, and the tokens that select this region's row."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        framework_version: str,
        training_instance_type: str,
        serving_instance_type: str,
    ) -> None:
        super().__init__(scope, construct_id)
        table = resolve_image_table(framework_version, training_instance_type, serving_instance_type)
        shared_registry = all(
            ImageRow.registry_account(row.training_image) == ImageRow.registry_account(row.inference_image)
            for row in table.values()
        )
        registry_keys = (
            {"trainingImage": "registry", "inferenceImage": "registry"}
            if shared_registry
            else {
                "trainingImage": "trainingRegistry",
                "inferenceImage": "inferenceRegistry",
            }
        )
        rows: dict[str, dict[str, str]] = {}
        for region, row in table.items():
            images = {"trainingImage": row.training_image, "inferenceImage": row.inference_image}
            rows[region] = dict(images)
            for image_key, registry_key in registry_keys.items():
                rows[region][registry_key] = ImageRow.registry_account(images[image_key])
        self.regions = sorted(table)
        self.mapping = cdk.CfnMapping(self, "Table", mapping=rows)
        self.training_image_uri = self.mapping.find_in_map(cdk.Aws.REGION, "trainingImage")
        self.inference_image_uri = self.mapping.find_in_map(cdk.Aws.REGION, "inferenceImage")
        sample = next(iter(table.values()))
        repositories = {
            (registry_keys["trainingImage"], ImageRow.repository(sample.training_image)),
            (registry_keys["inferenceImage"], ImageRow.repository(sample.inference_image)),
        }
        # One ARN per distinct (registry, repository): ECR pull permissions name them exactly.
        self.repository_arns = [self._repository_arn(key, repository) for key, repository in sorted(repositories)]

    def _repository_arn(self, account_key: str, repository: str) -> str:
        account = self.mapping.find_in_map(cdk.Aws.REGION, account_key)
        return f"arn:{cdk.Aws.PARTITION}:ecr:{cdk.Aws.REGION}:{account}:repository/{repository}"
