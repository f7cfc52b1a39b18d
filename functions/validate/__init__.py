"""The validate Lambda: schema and quality checks that decide between snapshot and quarantine."""
