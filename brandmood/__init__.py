"""brandmood: emotions in a brand's visual communication.

Layers, bottom to top (``make test`` checks them with import-linter, see
docs/architecture.md): ``brandmood.core`` → ``db`` | ``analytics`` → ``ingest`` →
``brandmood.services`` → ``brandmood.ui`` | ``brandmood.cli`` → ``pages`` / ``app.py``.
Importing this package has no side effects.
"""
