"""``python -m spacenas`` is the ``spacenas`` command."""
from spacenas.cli import main

raise SystemExit(main())
