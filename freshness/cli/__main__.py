"""`python -m freshness.cli`: the same command as `freshness`, for a venv whose scripts are not on PATH."""

from freshness.cli import main

main(prog_name="freshness")
