"""``brandmood ambassador …``: enroll ambassadors, match analyzed faces, list, review."""

from __future__ import annotations

from pathlib import Path

import typer

from analytics.identity_registry import EmbedderName, embedder_name
from brandmood.cli.common import app, user_errors, workspace
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.core.settings import load_config
from brandmood.services import audit
from brandmood.services.access import cli_operator
from db.queries import identity as q
from db.queries.core import get_brand
from db.queries.review import face_brand_id

ambassador_app = typer.Typer(no_args_is_help=True,
                             help="Brand ambassadors: enroll faces, recognize them.")
app.add_typer(ambassador_app, name="ambassador")

EMBEDDER_HELP = ("Face embedder: " + ", ".join(e.value for e in EmbedderName)
                 + " (default: BRANDMOOD_EMBEDDER, else dlib-resnet-v1). References and "
                 "matches are kept per embedder.")


def _embedder(name: str | None) -> str:
    """The embedder's name: the option's, else the configured one (checked)."""
    return str(embedder_name(name or load_config().embedder))


@ambassador_app.command("enroll")
@user_errors
def enroll_cmd(
    photos: list[Path] = typer.Argument(..., help="1–20 photos or videos of the ambassador."),
    brand: str = typer.Option(..., help="Brand the ambassador works for."),
    name: str = typer.Option(..., help="Ambassador's name (created if new)."),
    embedder: str = typer.Option(None, help=EMBEDDER_HELP),
    consent_by: str = typer.Option(None, help="Who consented to recognition (the "
                                   "ambassador, or who signed for them); needed unless a "
                                   "consent is on record."),
    consent_basis: str = typer.Option(None, help="The contract or consent form the consent "
                                      "rests on (e.g. 'contract 2026-014 §7')."),
    consent_date: str = typer.Option(None, help="When they consented, YYYY-MM-DD (default: "
                                     "now)."),
) -> None:
    """Enroll an ambassador from reference photos (the largest face of each) or video frames.

    Recognition needs the ambassador's consent: give it with --consent-by and
    --consent-basis unless one is on record (`brandmood consent record`)."""
    from brandmood.cli.erasure import consent_of
    from brandmood.services.access import cli_operator
    from brandmood.services.identity import enroll_paths

    model = _embedder(embedder)
    consent = consent_of(consent_by, consent_basis, consent_date)
    for p in photos:
        if not p.exists():
            raise FileNotFoundError(f"no such file: {p}")
    with workspace() as ws:
        summary = enroll_paths(ws, brand=brand, name=name, paths=photos, embedder=model,
                               consent=consent, recorded_by=cli_operator().label)
    for item in summary.items:
        typer.echo(f"{'ok' if item.ok else 'failed'} {item.source}"
                   + (f": {item.reason}" if item.reason else ""))
    typer.echo(f"{name}: {summary.added} reference face(s) added "
               f"(ambassador id {summary.ambassador_id}, {model})")


@ambassador_app.command("match")
@user_errors
def match_cmd(
    brand: str = typer.Option(..., help="Brand whose analyzed faces are matched."),
    threshold: float = typer.Option(None, help="Largest embedding distance that counts as "
                                    "the same person for an ambassador with one reference; "
                                    "spread-out references widen it up to the embedder's "
                                    "ceiling (default: the embedder's calibrated rule; "
                                    "required for an uncalibrated embedder)."),
    embedder: str = typer.Option(None, help=EMBEDDER_HELP),
) -> None:
    """Match every analyzed face of the brand to its enrolled ambassadors."""
    from tqdm import tqdm

    from analytics.identity_registry import resolve_threshold
    from brandmood.services.identity import match_faces

    model = _embedder(embedder)
    threshold = resolve_threshold(model, threshold)  # fail before opening anything
    with workspace() as ws, tqdm(total=0, unit="asset", disable=None) as bar:
        def progress(done: int, total: int, message: str) -> None:
            bar.total = total
            bar.n = done
            bar.set_postfix_str(message)
            bar.refresh()

        summary = match_faces(ws, brand=brand, threshold=threshold, embedder=model,
                              progress=progress)
    for asset_id, reason in summary.failed:
        typer.echo(f"failed asset {asset_id}: {reason}", err=True)
    typer.echo(f"{summary.n_faces} faces: {summary.n_matched} matched, {summary.n_unknown} "
               f"unknown, {summary.n_kept_reviewed} kept as reviewed "
               f"({summary.embedder}, threshold {summary.threshold:.3f})")


@ambassador_app.command("list")
@user_errors
def list_cmd(brand: str = typer.Option(..., help="Brand."),
             embedder: str = typer.Option(None, help=EMBEDDER_HELP)) -> None:
    """List ambassadors with references (of one embedder), recognized faces and tagged posts."""
    model = _embedder(embedder)
    with workspace() as ws, ws.session() as s:
        b = get_brand(s, name=brand)
        rows = q.list_ambassadors(session=s, brand_id=b.id, model=model)
    if not rows:
        typer.echo(f"{brand} has no ambassadors yet")
    for r in rows:
        typer.echo(f"{r.id}\t{r.name}\treferences[{model}]={r.n_references}\t"
                   f"matched={r.n_matched}\t"
                   f"confirmed={r.n_confirmed}\ttagged_posts={r.n_tagged_assets}")


@ambassador_app.command("review")
@user_errors
def review_cmd(
    face_id: int = typer.Argument(..., help="Face id (see the dashboard)."),
    reject: bool = typer.Option(False, "--reject", help="The face is not this ambassador."),
    as_name: str = typer.Option(None, "--as", help="Reassign to this ambassador (confirms)."),
    reference: bool = typer.Option(False, help="Also make the confirmed face a reference."),
    embedder: str = typer.Option(None, help="Embedder whose stored embedding of the face "
                                 "becomes the reference (default: BRANDMOOD_EMBEDDER's)."),
) -> None:
    """Confirm (default), reject or reassign a face's ambassador match."""
    with workspace() as ws, ws.session() as s:
        amb_id = None
        if as_name:
            from db.models import Face

            face = s.get(Face, face_id)
            if face is None:
                raise ValueError(f"no face with id {face_id}")
            from db.models import Asset, Brand

            brand = s.get(Brand, s.get(Asset, face.asset_id).brand_id)
            amb_id = q.find_ambassador(session=s, brand=brand, name=as_name).id
        face = q.review_match(session=s, face_id=face_id, confirmed=not reject,
                              ambassador_id=amb_id)
        if reference and not reject:
            q.reference_from_face(session=s, face_id=face_id, model=_embedder(embedder))
        audit.record(s, cli_operator(), AuditAction.REVIEW,
                     brand_id=face_brand_id(session=s, face_id=face_id),
                     object_kind=ObjectKind.FACE, object_id=face_id,
                     details={"ambassador_match": "rejected" if reject
                              else "reassigned" if amb_id else "confirmed"})
        s.commit()
        typer.echo(f"face {face_id}: {'rejected' if reject else 'confirmed'} "
                   f"(ambassador id {face.ambassador_id})")
