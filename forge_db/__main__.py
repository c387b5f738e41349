"""``python -m forge_db`` runs the ``forge-db`` command."""

import sys

from .cli import main

sys.exit(main())
