"""Assets page: gallery filtered by emotion; asset page with boxes, probabilities, timeline."""

from __future__ import annotations

import json

from brandmood.ui.asset_views import NA
from tests.pages import expected
from tests.pages.conftest import run_page


def _match_count(at) -> int:
    cap = next(c.value for c in at.caption if "assets match" in c.value)
    return int(cap.split(" assets match")[0].replace(",", ""))


def test_gallery_filters_by_emotion(filled):
    ids, ws = filled.ids, filled.ws
    at = run_page("assets.py")
    assert _match_count(at) == len(expected.assets(
        ws, where=lambda a: a["brand_id"] == ids["brand"]))
    assert at.get("image"), "no thumbnails drawn"
    at.multiselect(key="gal_labels").set_value(["happy"]).run()
    assert _match_count(at) == expected.assets_with_label(ws, brand=ids["brand"], label="happy")
    opened = [b.label for b in at.button if b.label.startswith("Open #")]
    assert f"Open #{ids['single_face.jpg']}" in opened
    assert f"Open #{ids['15-f13-anc-ph.jpg']}" not in opened


def test_asset_page_draws_faces_and_probabilities(filled):
    ids = filled.ids
    at = run_page("assets.py", query={"asset": str(ids["multi_face.jpg"])})
    assert any(s.value.startswith(f"Asset #{ids['multi_face.jpg']}") for s in at.subheader)
    assert at.get("image"), "asset image not shown"
    table = at.dataframe[0].value
    assert len(table) == 4  # the current run's four faces, not the old run's
    assert set(table["contempt"]) == {NA}
    assert "sad" not in set(table["label"]) and "uncertain" in set(table["label"])
    assert "neutral" in set(table["reviewed"])


def test_video_asset_has_timeline_and_frame(filled):
    at = run_page("assets.py", query={"asset": str(filled.ids["video"])})
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert fig["layout"]["title"]["text"].startswith("Emotion timeline")
    assert {t["name"] for t in fig["data"]} == {"neutral", "happy"}
    assert at.get("image"), "no frame preview"
    at.slider(key=f"sec_{filled.ids['video']}").set_value(1.0).run()
    assert not at.exception
    assert any("boxes from the sample at 1.0s" in " ".join(i.captions)
               for i in at.get("image"))


def test_assets_page_empty(empty_home):
    at = run_page("assets.py")
    assert any("No data yet" in i.value for i in at.info)
