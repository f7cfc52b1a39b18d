"""The CDK app: typed config (`config`), one construct per concern (`constructs`), one stack per
deployable unit (`stacks`), and the entry point (`app`)."""
