"""Model governance from the command line: which version serves, approve, reject, roll back.

Everything is read from and done through the AWS APIs the stacks deployed (the Model Registry,
the endpoint, the pipeline state machine), so the same commands work against the local cloud
(``mlops local up``, ``AWS_ENDPOINT_URL``) and a real account (the default credential chain).
"""
