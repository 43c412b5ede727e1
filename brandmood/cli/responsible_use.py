"""``brandmood disclosure``: the Art. 50(3) information text a brand can publish."""

from __future__ import annotations

from pathlib import Path

import typer

from brandmood.cli.common import UserError, app, user_errors, workspace
from brandmood.core.access import BrandScope


@app.command()
@user_errors
def disclosure(
    brand: str = typer.Option(..., help="Brand name."),
    out: Path = typer.Option(None, help="Write the text (Markdown) to this file instead of "
                                        "printing it."),
) -> None:
    """Print the emotion-recognition notice (EU AI Act Art. 50(3)) for a brand.

    Built from the workspace's settings (contact, purpose, retention: set them on the
    Responsible use page) and the brand's channels.
    """
    from brandmood.services import responsible_use as ru
    from db.queries.review import SettingKey, get_setting

    if out is not None and out.parent and not out.parent.exists():
        raise UserError(f"folder {out.parent} does not exist")
    with workspace() as ws, ws.session() as s:
        model = get_setting(session=s, key=SettingKey.DEFAULT_MODEL, default=ws.config.model)
        text = ru.disclosure_text(session=s, brand=brand, scope=BrandScope.ALL, model=model)
        missing = ru.missing_fields(session=s)
    if missing:
        typer.echo(f"warning: not set yet: {', '.join(missing)} (Responsible use page)",
                   err=True)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")
