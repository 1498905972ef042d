"""``python -m spacenas`` is the ``spacenas`` command."""
from spacenas.cli.main import main

raise SystemExit(main())
