"""Comparing runs: collect them, compute statistics, write the report and its figures."""
