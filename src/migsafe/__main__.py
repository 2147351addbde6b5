import sys

from migsafe.cli import main

sys.exit(main())
