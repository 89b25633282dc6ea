#!/usr/bin/env python3
"""peps_download.py: search and download Sentinel products from CDSE (default), GEODES or a resto server.

Same options as Olivier Hagolle's original script (PEPS closed in 2026); see ``--help``.
Run from a checkout (``python peps_download.py ...``) or, once installed, as ``peps_download.py``.
"""

import sys

from diapsar.download.cli import main

if __name__ == "__main__":
    sys.exit(main())
