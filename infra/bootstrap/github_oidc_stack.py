"""The GitHub OIDC provider and the role a stage's deploy job assumes, with nothing else to its name.

The role is the only door from GitHub Actions into the account, so its trust is exact: the token
must be for ``sts.amazonaws.com`` and its subject must be this repository's jobs running in this
stage's GitHub environment (``repo:OWNER/REPO:environment:STAGE``). A job outside the environment,
another branch's job without the environment's approval, a pull request or a fork gets a different
subject and is refused by STS. The role may only assume the three roles ``cdk bootstrap`` created
for this account and region (deploy, file publishing, lookup): CloudFormation, with the bootstrap's
execution role, does the rest, so the role holds no permission on any resource of the system.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.bootstrap.config import BootstrapConfig
from infra.config import StageConfig

__all__ = ["CDK_BOOTSTRAP_ROLES", "GITHUB_OIDC_AUDIENCE", "GITHUB_OIDC_HOST", "GithubOidcStack"]

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com"
# The roles `cdk deploy` assumes (no Docker assets here, so no image-publishing role).
CDK_BOOTSTRAP_ROLES = ("deploy", "file-publishing", "lookup")


class GithubOidcStack(cdk.Stack):
    """``<prefix>-github-deploy``: the OIDC provider (unless the account has one) and the deploy role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageConfig,
        settings: BootstrapConfig,
        **kwargs: Any,
    ) -> None:
        name = stage.deploy_role_name
        super().__init__(
            scope,
            construct_id,
            stack_name=name,
            description=f"GitHub Actions OIDC deploy role of stage {stage.name} ({settings.github_repository})",
            **kwargs,
        )
        provider_arn = self._oidc_provider_arn(create=settings.create_oidc_provider)
        self.subject = f"repo:{settings.github_repository}:environment:{stage.github_environment}"
        principal = iam.WebIdentityPrincipal(
            provider_arn,
            conditions={
                "StringEquals": {
                    f"{GITHUB_OIDC_HOST}:aud": GITHUB_OIDC_AUDIENCE,
                    f"{GITHUB_OIDC_HOST}:sub": self.subject,
                }
            },
        )
        self.cdk_role_arns = [
            self.format_arn(
                service="iam",
                region="",
                resource="role",
                resource_name=f"cdk-{settings.qualifier}-{kind}-role-{self.account}-{self.region}",
                arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
            )
            for kind in CDK_BOOTSTRAP_ROLES
        ]
        self.role = iam.Role(
            self,
            "DeployRole",
            role_name=name,
            description=f"Assumed by GitHub Actions jobs in environment {stage.github_environment} to run cdk deploy",
            assumed_by=principal,
            max_session_duration=cdk.Duration.hours(1),
            inline_policies={
                "AssumeCdkBootstrapRoles": iam.PolicyDocument(
                    statements=[iam.PolicyStatement(actions=["sts:AssumeRole"], resources=self.cdk_role_arns)]
                )
            },
        )
        cdk.CfnOutput(
            self,
            "DeployRoleArn",
            value=self.role.role_arn,
            description=f"Set as variable AWS_DEPLOY_ROLE_ARN of GitHub environment {stage.github_environment}",
        )
        cdk.CfnOutput(self, "TrustedSubject", value=self.subject, description="The only OIDC subject trusted")

    def _oidc_provider_arn(self, *, create: bool) -> str:
        """The GitHub OIDC provider: created here, or the one the account has already."""
        if create:
            provider = iam.OidcProviderNative(
                self,
                "GitHubOidcProvider",
                url=f"https://{GITHUB_OIDC_HOST}",
                client_ids=[GITHUB_OIDC_AUDIENCE],
            )
            return provider.oidc_provider_arn
        return self.format_arn(
            service="iam",
            region="",
            resource="oidc-provider",
            resource_name=GITHUB_OIDC_HOST,
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )
