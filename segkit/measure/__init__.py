"""Measurement: the benchmark (``segkit-bench``) and its harness, FLOP counting, the checkerboard share."""
