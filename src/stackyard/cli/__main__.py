"""``python -m stackyard.cli``: the same as the ``stackyard`` command."""

from stackyard.cli import main

main()
