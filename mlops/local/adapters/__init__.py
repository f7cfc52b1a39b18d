"""Small named adapters over moto: each adds one thing moto lacks, and nothing else.

Every adapter patches or calls a moto internal; tests/unit/local/test_moto_internals.py checks each
of them against the pinned moto version, so an upgrade that moves one fails a test instead of
silently faking a result.
"""
