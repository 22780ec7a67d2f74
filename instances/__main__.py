import sys

from instances.cli import main

sys.exit(main())
