"""The groundtruth Lambda: joins labels with captured requests into quality metrics and a new batch."""
