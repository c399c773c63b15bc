import sys

from .distill import main

sys.exit(main())
