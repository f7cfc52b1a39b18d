"""The trigger Lambda: the one door into the pipeline (upload, drift or quality alarm, recheck, manual request)."""
