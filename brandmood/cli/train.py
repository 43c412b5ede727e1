"""``brandmood finetune`` (adapt to reviewed faces) and ``brandmood train --arch resnet50``."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from brandmood.cli.common import app, user_errors, workspace
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.core.progress import safe_progress
from brandmood.services import audit
from brandmood.services.access import cli_operator


class TrainArch(enum.StrEnum):
    """Architectures ``brandmood train`` can train."""

    RESNET50 = "resnet50"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


@app.command()
@user_errors
def finetune(
    min_per_class: int = typer.Option(8, help="Fewest reviewed faces for a label to be "
                                      "learned; rarer labels stay unpredicted."),
    test_fraction: float = typer.Option(0.3, help="Share of people/assets held out."),
    seed: int = typer.Option(0, help="Seed of the split and the training."),
    activate: bool = typer.Option(False, help="Use the new version in the dashboards "
                                  "if it is registered."),
) -> None:
    """Adapt the emotion model to the reviewed faces; register it only where it is better."""
    from analytics.finetune import FinetuneConfig
    from brandmood.services.finetune import run_finetune

    cfg = FinetuneConfig(min_per_class=min_per_class, test_fraction=test_fraction, seed=seed)
    with workspace() as ws:
        out = run_finetune(ws, cfg=cfg, activate=activate, actor=cli_operator())
    r = out.result
    for face_id, reason in out.skipped:
        typer.echo(f"skipped face {face_id}: {reason}", err=True)
    typer.echo(f"labels learned: {', '.join(e.value for e in r.labels)}")
    if r.left_out:
        typer.echo("too few examples (stay unpredicted): "
                   + ", ".join(f"{e.value} ({n})" for e, n in r.left_out.items()))
    typer.echo(f"held-out faces: {r.n_test} (trained on {r.n_train})")
    typer.echo(f"base:    accuracy {_pct(r.base.accuracy)}  macro-F1 {r.base.macro_f1:.3f}")
    typer.echo(f"adapted: accuracy {_pct(r.adapted.accuracy)}  "
               f"macro-F1 {r.adapted.macro_f1:.3f}")
    h = out.human
    if h.percent_agreement is None:
        typer.echo(f"human agreement (the ceiling): not measured, no face has two reviews "
                   f"({h.agreed} faces with a consensus, {h.disputed} disputed left out)")
    else:
        alpha = f"{h.alpha:.3f}" if h.alpha is not None else "n/a"
        typer.echo(f"human agreement (the ceiling): {_pct(h.percent_agreement)} of pairs of "
                   f"reviews, Krippendorff's alpha {alpha}, on {h.faces_reviewed_twice} faces "
                   f"reviewed twice or more ({h.disputed} disputed faces left out)")
    if out.version_id is None:
        typer.echo("not better than the base model: no new version registered")
    else:
        typer.echo(f"registered model version {out.version_id}: {out.manifest}")


@app.command()
@user_errors
def train(
    data: Path = typer.Option(..., help="Labeled folder: <label>/*.jpg face crops."),
    out: Path = typer.Option(..., help="Folder for the checkpoint and its manifest."),
    arch: TrainArch = typer.Option(TrainArch.RESNET50, help="Architecture."),
    epochs: int = typer.Option(30, help="Most epochs (early stopping may end sooner)."),
    batch_size: int = typer.Option(32, help="Batch size."),
    input_size: int = typer.Option(224, help="Input side in pixels."),
    patience: int = typer.Option(5, help="Epochs without validation gain before stopping."),
    pretrained: bool = typer.Option(True, help="Start from ImageNet weights where they "
                                    "can be downloaded (random init otherwise)."),
    name: str = typer.Option("resnet50-brand", help="Model name."),
    seed: int = typer.Option(0, help="Seed."),
    device: str = typer.Option("cpu", help="Torch device (cpu, cuda)."),
    register: bool = typer.Option(True, help="Record the version in the workspace."),
) -> None:
    """Train ResNet-50 with an eight-way emotion head on a labeled folder."""
    from tqdm import tqdm

    from analytics.classifiers.registry import imagenet_resnet50
    from analytics.train_resnet import TrainConfig, train_resnet

    if not data.is_dir():
        raise FileNotFoundError(f"no such folder: {data}")
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, input_size=input_size,
                      patience=patience, pretrained=pretrained, seed=seed, device=device)
    version = "1"
    if register:
        with workspace() as ws, ws.session() as s:
            from db.queries.model_versions import next_version

            version = next_version(session=s, name=name)
    with tqdm(total=epochs, unit="epoch", disable=None) as bar:
        def progress(done: int, total: int, message: str) -> None:
            bar.n = done
            bar.set_postfix_str(message)
            bar.refresh()

        report = train_resnet(data, out, cfg, init=imagenet_resnet50() if pretrained else None,
                              name=name, version=version,
                              progress=safe_progress(progress, job="training"))
    typer.echo(f"{arch.value}: init {report.init}; {report.epochs_run} epochs "
               f"(best {report.best_epoch}), validation accuracy {_pct(report.val_accuracy)}, "
               f"macro-F1 {report.val_macro_f1:.3f}; {report.seconds:.0f} s")
    typer.echo(f"manifest: {report.manifest}")
    if register:
        from brandmood.core.fetch import sha256_file
        from db.queries.model_versions import record_version

        with workspace() as ws, ws.session() as s:
            row = record_version(session=s, name=name, version=version,
                                 base_model="imagenet" if report.init == "imagenet"
                                 else "random-init", path=str(report.manifest.resolve()),
                                 weights_sha256=sha256_file(report.weights),
                                 labels=[e for e in _labels()], metrics=report.metrics_dict())
            audit.record(s, cli_operator(), AuditAction.MODEL_REGISTRATION,
                         object_kind=ObjectKind.MODEL_VERSION, object_id=row.id,
                         details={"name": name, "version": version, "via": "train"})
            s.commit()
            typer.echo(f"registered model version {row.id} ({name}@{version})")


def _labels() -> list[str]:
    from brandmood.core.types import EMOTIONS

    return [e.value for e in EMOTIONS]
