"""The one-time deployment bootstrap: the GitHub OIDC provider and the role CI deploys a stage with.

Deployed by hand once per stage (account and region), after ``cdk bootstrap``, with
``npx cdk deploy --app "python -m infra.bootstrap" -c stage=NAME -c githubRepository=OWNER/REPO``.
It lives apart from the main app so that ``cdk synth`` and the local cloud never see it, and so that
CI's deploy role cannot change its own trust: CI deploys only the stacks of ``infra/app.py``.
"""
