"""Reading run dirs into tables, plots, architecture pictures and HTML pages: :mod:`.report`
(tables, statistics), :mod:`.plots` (sweep curves, Pareto fronts), :mod:`.plots_search` (one-shot
mixing weights, DrNAS accuracy range), :mod:`.pictures` (``spacenas show``), :mod:`.html`."""
