"""``python -m infra.bootstrap``: what ``cdk --app`` runs to synthesize the bootstrap stack."""

from infra.bootstrap.app import main

main()
