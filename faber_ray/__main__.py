"""``python -m faber_ray``: the same as the ``faber-ray`` command."""

import sys

from faber_ray.cli import main

sys.exit(main())
