"""Reading run dirs into tables, plots, architecture pictures and HTML pages: :mod:`.report`
(tables, statistics), :mod:`.kinds` (what each kind of run dir shows: the
``READERS`` table), :mod:`.plots` (sweep curves, Pareto fronts), :mod:`.plots_search` (one-shot
mixing weights, DrNAS accuracy range), :mod:`.pictures` (``spacenas show``), :mod:`.html`."""
