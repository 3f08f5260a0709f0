"""Command-line entry points: ``ssb-train`` (:mod:`ssb_core.cli.train`) and ``ssb-evaluate`` (:mod:`ssb_core.cli.evaluate`).

Both also run as ``python -m ssb_core.cli.train`` / ``python -m ssb_core.cli.evaluate``. Bad user input (a
recipe key, a missing or corrupt dataset or checkpoint file) ends with one line on stderr and exit code 2.
"""
