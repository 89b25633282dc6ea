#!/usr/bin/env python3
"""QuickMlView.py -in IMAGE -ml RG AZ [-out FILE.png] [--band N] [--db] [--geotiff]: multilooked quicklook PNG."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diapsar.quicklook_cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="QuickMlView.py"))
