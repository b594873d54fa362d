"""Benchmarks of Intake against rclone and OpenSSH on the same files (issue 4).

Run ``.venv/bin/python -m bench.run --help``; bench/README.md explains each scenario.
"""
