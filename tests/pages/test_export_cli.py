"""``brandmood export``: files with the selected rows; user errors as one line, exit 2."""

from __future__ import annotations

import csv

from openpyxl import load_workbook
from typer.testing import CliRunner

from brandmood.cli import app
from tests.pages import expected

runner = CliRunner()


def test_export_csv_with_filters(filled, tmp_path):
    out = tmp_path / "faces.csv"
    res = runner.invoke(app, ["export", "--brand", "Acme", "--format", "csv", "--out", str(out),
                              "--campaign", "Spring", "--min-confidence", "0.6"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == expected.counted_faces(
        filled.ws, brand=filled.ids["brand"],
        where=lambda f: f.a["campaign_id"] == filled.ids["spring"] and f.f["confidence"] >= 0.6)
    res = runner.invoke(app, ["export", "--brand", "Acme", "--csv", "assets", "--out",
                              str(tmp_path / "assets.csv"), "--platform", "youtube"])
    assert res.exit_code == 0, res.output
    assets = list(csv.DictReader((tmp_path / "assets.csv").open()))
    assert len(assets) == len(expected.assets(
        filled.ws, where=lambda a: a["channel_id"] == filled.ids["youtube"]))


def test_export_xlsx(filled, tmp_path):
    out = tmp_path / "r.xlsx"
    res = runner.invoke(app, ["export", "--brand", "Acme", "--format", "xlsx", "--out", str(out),
                              "--reviewed", "--no-uncertain"])
    assert res.exit_code == 0, res.output
    wb = load_workbook(out, read_only=True)
    labels = {r[13] for r in list(wb["Faces"].iter_rows(values_only=True))[1:]}
    assert "uncertain" not in labels and "neutral" in labels


def test_export_user_errors(filled, tmp_path):
    for args, msg in ((["--brand", "Nope"], "unknown brand"),
                      (["--brand", "Acme", "--campaign", "Winter"], "unknown campaign"),
                      (["--brand", "Acme", "--since", "yesterday"], "--since must be a date"),
                      (["--brand", "Acme", "--platform", "myspace"], "unknown platform")):
        res = runner.invoke(app, ["export", *args, "--out", str(tmp_path / "x.csv")])
        assert res.exit_code == 2, res.output
        assert msg in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["export", "--brand", "Acme", "--out", str(tmp_path / "no/x.csv")])
    assert res.exit_code == 2 and "does not exist" in res.output
