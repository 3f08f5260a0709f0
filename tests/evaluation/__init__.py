"""Tests of ssb_core.evaluation."""
