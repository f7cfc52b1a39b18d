"""`mlops backtest`: replay a labelled data stream through the local cloud, policy against policy.

`windows` cuts the data into the replay, `policies` says what differs between the runs, `clock`
is the virtual time every service in the process reads, `replay` plays one policy in its own
process, `report` and `plot` turn the results into the table, the JSON and the PNG, `runner`
puts them together, and `generator` makes a seeded stream with documented concept changes.
"""
