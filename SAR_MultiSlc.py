#!/usr/bin/env python3
"""DInSAR chain of one master and its slaves (DiapOTB SAR_MultiSlc); run with -h for the options."""

import sys

from diapsar.chains.cli import main

if __name__ == "__main__":
    sys.exit(main())
