import sys

from tickwire.cli import main

sys.exit(main())
