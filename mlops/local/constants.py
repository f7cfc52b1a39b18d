"""Identity of the embedded AWS: one account, one region, the CDK bootstrap it pretends to have."""

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
BOOTSTRAP_QUALIFIER = "hnb659fds"
BOOTSTRAP_VERSION = "30"
DEFAULT_SERVER_PORT = 4566
CLOCK_MODES = ("real", "fast", "manual")  # how a served local cloud's clock runs (mlops.local.scheduler)
