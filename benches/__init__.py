"""zhusuan's benchmark suite: pytest-benchmark files and a comparison runner.

``python benches/run.py`` (or ``make bench``) times zhusuan side by side with
the libraries a user would otherwise pick; see :mod:`benches.run`. The
contenders live in :mod:`benches.cases`, the machine's ceilings and each
case's floor in :mod:`benches.floors`.
"""
