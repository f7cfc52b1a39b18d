"""Before and around a real deployment: ``mlops preflight`` and ``mlops cost``.

Both read the synthesized cloud assembly rather than a second description of the system, so what
they check and price is exactly what ``cdk deploy`` would create:

- ``template``: evaluates the few CloudFormation intrinsics the templates use, for one region;
- ``facts``: the deployment facts read off the templates (functions, schedules, the state
  machine's paths, instance types, alarms, layers, the bootstrap version the assembly requires);
- ``stage``: which context a stage synthesizes with, its region and its deploy role;
- ``preflight``: read-only checks of an AWS account against those facts;
- ``prices`` and ``prices.json``: on-demand list prices per region, dated, with their sources;
- ``cost``: a pure function from facts, assumptions and prices to monthly line items.
"""
