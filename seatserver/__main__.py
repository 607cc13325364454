"""``python -m seatserver``: the same as the ``seatserver`` command."""

import sys

from seatserver.cli import main

sys.exit(main())
