"""The drift Lambda: compares the serving endpoint's captured traffic with the training baseline."""
