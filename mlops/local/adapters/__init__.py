"""Small named adapters over moto: each adds one thing moto lacks, and nothing else.

Every adapter patches a moto internal; `REQUIRED_MOTO_INTERNALS` in `mlops.local.adapters.internals`
lists them so a moto upgrade that moves one fails a test instead of silently faking a result.
"""
