"""Tests of ssb_core.training."""
