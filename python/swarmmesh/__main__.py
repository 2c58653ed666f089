"""``python -m swarmmesh``: the same as the ``swarmmesh`` console script."""

import sys

from swarmmesh.cli import main

sys.exit(main())
