"""Measurement: the benchmark harness, FLOP counting and the checkerboard share."""
