"""``python -m brandmood.cli …``: the command line (how ``serve`` starts its worker)."""

from brandmood.cli import main

main()
