"""Import what the pages need once, before the dashboard server takes requests.

Streamlit runs each session's script in its own thread. A module imported for the first
time by several threads at once can be seen half-initialized by one of them (four tabs
opened together on a fresh server once showed "partially initialized module 'pandas' has
no attribute 'Series'", raised inside plotly). ``brandmood serve`` calls :func:`preload`
in the server process, in its one thread, before Streamlit starts: every module the pages,
the app and the UI package import (found in their source, top level and inside functions),
the libraries Streamlit and plotly import lazily, and one small figure and table through
the code paths that draw them. Modules that load the models' code (the jobs a worker
runs) are left out: a page view never needs them.
"""

from __future__ import annotations

import ast
import importlib
import logging
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("numpy", "pandas", "pyarrow", "PIL.Image", "plotly.graph_objects",
             "plotly.express", "plotly.io", "altair")
"""Imported lazily by Streamlit's elements and by plotly on first use."""
LEFT_OUT = frozenset({"brandmood.services.analyze", "brandmood.services.finetune",
                      "analytics.finetune", "analytics.train_resnet"})
"""The models' code (torch): run by jobs, never by a page view."""


def sources(root: Path = ROOT) -> list[Path]:
    """The files whose imports the server needs: app.py, pages/*.py, brandmood/ui/*.py."""
    return [root / "app.py", *sorted((root / "pages").glob("*.py")),
            *sorted((root / "brandmood" / "ui").glob("*.py"))]


def imported_modules(paths: Iterable[Path]) -> list[str]:
    """Absolute module names the files import (``from a import b`` gives ``a`` and ``a.b``,
    which is imported only if it is a module), in first-seen order, without LEFT_OUT."""
    seen: dict[str, None] = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    seen.setdefault(alias.name)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                seen.setdefault(node.module)
                for alias in node.names:
                    seen.setdefault(f"{node.module}.{alias.name}")
    skip = (*LEFT_OUT, "__future__")
    return [m for m in seen if not any(m == x or m.startswith(f"{x}.") for x in skip)]


def _import(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except ModuleNotFoundError as exc:
        # ``from a import b`` where b is a name, not a module: nothing to load
        parent = name.rpartition(".")[0]
        if exc.name == name and parent:
            return False
        log.warning("preload: cannot import %s: %s", name, exc)
    except Exception as exc:  # a page's own import error shows on that page, not here
        log.warning("preload: importing %s failed: %s", name, exc)
    return False


def _draw_once() -> None:
    """One tiny figure and table through plotly's and Arrow's conversions (their lazy
    imports happen on first use)."""
    import pandas as pd
    import plotly.express as px
    import plotly.io as pio
    import pyarrow as pa

    df = pd.DataFrame({"label": ["happy", "sad"], "n": [2, 1]})
    pio.to_json(px.bar(df, x="label", y="n"), validate=True)
    pa.Table.from_pandas(df)


def preload(root: Path = ROOT) -> list[str]:
    """Import everything the pages need now; returns the modules imported.

    Never raises: a module that fails to import is logged and left to fail on its page.
    """
    done = [m for m in (*LIBRARIES, *imported_modules(sources(root))) if _import(m)]
    try:
        _draw_once()
    except Exception as exc:
        log.warning("preload: drawing a figure failed: %s", exc)
    return done
