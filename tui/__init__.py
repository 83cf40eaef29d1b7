"""Ramp's control room: the Textual app over a run's store.

The app only reads a run through :mod:`engine.results.runfeed` (events by seq, folded by
:mod:`engine.results.runview`) and only acts on it by writing to the commands table, so the same screens
serve a run in this process (``ramp run``, ``ramp demo``) and one attached from elsewhere
(``ramp watch``). engine/ never imports this package.
"""
