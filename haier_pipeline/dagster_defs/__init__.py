"""The Dagster layer: thin, declarative wiring of the Dagster-free work into Dagster.

One folder per domain (``catalog``, ``orders``, ``finance``), one file per Dagster concept in
each (``assets``, ``checks``, ``ops``, ``jobs``, ``schedules``, ``sensors``); ``resources``
and ``conventions`` are shared by all. ``haier_pipeline.definitions`` gathers them into the
one ``Definitions`` object Dagster loads.
"""
