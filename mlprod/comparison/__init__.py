"""The comparison of two sides (model A vs model B).

- :mod:`~mlprod.comparison.sides`: what a side is (a history run, a group's mean, a run as
  given), read from a link's words by :mod:`~mlprod.comparison.links`;
- :mod:`~mlprod.comparison.compare`: the verdict, ratio by ratio and weighted;
- :mod:`~mlprod.comparison.noise`: run-to-run spread, from a group's seeds;
- :mod:`~mlprod.comparison.break_even`: the traffic at which the two cost the same.

A new comparison rule goes in ``compare``; a new kind of side in ``sides`` and ``links``.
"""
