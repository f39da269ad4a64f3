"""`python -m podium` runs the command line."""

from podium.cli import main

main()
