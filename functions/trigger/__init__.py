"""The trigger Lambda: the one door into the pipeline (upload, drift alarm, manual request)."""
