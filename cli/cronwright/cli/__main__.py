"""`python -m cronwright.cli ...`: how cronwright dev and the tests start a component with
the interpreter they run in, whatever `cronwright` on PATH is."""

import sys

from cronwright.cli.main import main

sys.exit(main())
