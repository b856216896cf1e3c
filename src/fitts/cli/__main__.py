"""`python -m fitts.cli`: the `fitts` command."""

from fitts.cli import main

main()
