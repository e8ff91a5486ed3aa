"""Test doubles and synthetic inputs: used by tests and benchmarks, never shipped in the wheel."""
