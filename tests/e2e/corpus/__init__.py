"""The bad-input corpus of issue 18: files, events and faults through the real local pipeline.

`cases.CASES` is the table (each case's input and the outcome it must end in), `runner.Corpus`
runs it through a deployed local cloud and observes the outcomes from the AWS APIs, and
``python tests/e2e/corpus`` runs it on its own and prints the table (case, expected, observed,
with the counts of crashes and lost objects). tests/e2e/test_corpus_local.py asserts it.
"""
