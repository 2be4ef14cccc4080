"""What runs cost: GPU prices and training cost (:mod:`~mlprod.costs.gpus`), exchange rates
(:mod:`~mlprod.costs.fx`), the LLM price book (:mod:`~mlprod.costs.llm`), inference cost
by request, token or served GPU (:mod:`~mlprod.costs.inference`), and the calculator's
scenario that builds both costs (:mod:`~mlprod.costs.scenario`). Every table is read and
checked by :mod:`~mlprod.costs.tables`.

A new source of prices goes here: a table read through ``tables``, a builder that returns
the amount with the assumptions behind it.
"""
