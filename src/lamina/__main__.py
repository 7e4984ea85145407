"""`python -m lamina …` runs the CLI (handy for `python -X importtime -m lamina images`)."""

from lamina.cli.main import main

main()
