"""Tests of ssb_core.cli."""
