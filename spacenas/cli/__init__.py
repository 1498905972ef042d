"""The command line (``spacenas ...``): :mod:`spacenas.cli.main` is the entry point
(``spacenas.cli.main:main``), one module per subcommand, :mod:`spacenas.cli.options` the shared
option parsing. Nothing outside this package imports it."""
