"""
C{python -m twistar}: the C{twistar} command (see L{twistar.cli}).
"""

import sys

from twistar.cli import main

if __name__ == "__main__":
    sys.exit(main())
