"""``python -m mlprod``: see :mod:`mlprod.cli`."""

import sys

from mlprod.cli import main

sys.exit(main())
