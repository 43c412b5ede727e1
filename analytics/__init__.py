"""Face detection, emotion classification, aggregation and fine-tuning: pure computation.

Arrays in, typed records (:mod:`brandmood.core.types`) out. Imports only
:mod:`brandmood.core`; never the database, the services or the UI.
"""
