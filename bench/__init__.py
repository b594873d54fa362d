"""Benchmarks of Intake against rclone and OpenSSH on the same files (issue 4).

Run ``.venv/bin/python -m bench.run --help``; each module of ``bench/scenarios`` says what
it measures, and docs/performance.md has the latest results and what bounds them.
"""
