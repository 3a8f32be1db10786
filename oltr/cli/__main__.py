import sys

from oltr.cli import main

sys.exit(main())
