"""Tests of the logic in scripts/ (results tables, the diversity grid)."""
