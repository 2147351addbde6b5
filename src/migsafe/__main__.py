import sys

from migsafe.launch import main

sys.exit(main())
