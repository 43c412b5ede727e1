"""Ambassador recognition on real faces: threshold calibration, identification, false matches.

    python -m benchmarks.identity [--eval ../shared/eval] --json OUT

Faces: JAFFE (``jaffe-dev``: five people, ~20 photos each; identity = file-name prefix) and the
demo media (frames of ``single_face.mp4``; frames of ``WolfgangLanger_Pexels.mp4``; the demo
photos ``0-f1-su-ph``, ``0-f15-hao-ph``, ``15-f13-anc-ph``, ``45-m7-di-ph`` and the five faces
of ``multi_face.jpg``, each counted as a different person). ``single_face.jpg`` is likely the
person of ``single_face.mp4`` but this is not verified, so it is only reported, never used.

1. Threshold: the smallest distance with the fewest (miss rate + false-match rate) of the
   real decision (a face matches the ambassador whose mean reference is nearest, if under the
   threshold), averaged over every choice of enrolled people, JAFFE and demo weighted equally.
2. Identification, cross-validated over the 10 ways to enroll 3 of the 5 JAFFE people
   (5 reference photos each): the threshold is re-calibrated without the two other people
   (enrolling 2 of the 3, the third a stranger), then identification accuracy = share of
   the enrolled people's other photos matched to the right person, false-match rate =
   share of the not-enrolled people's photos matched to anybody. Also at dlib's usual 0.6
   and at the chosen threshold, as baselines.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from analytics.identity import Gallery, largest_face, match
from analytics.identity_registry import get_embedder
from benchmarks.peer_common import EVAL, write_json

N_REFS = 5
DEMO_REFS = 2
GRID = np.round(np.arange(0.25, 0.65, 0.005), 3)
DLIB_USUAL = 0.6


def _embed_largest(detector, embedder, images: list[np.ndarray]) -> list[np.ndarray | None]:
    out: list[np.ndarray | None] = []
    for img, faces in zip(images, detector.detect(images), strict=True):
        if len(faces) == 0:
            out.append(None)
            continue
        i = largest_face(faces)
        out.append(embedder.embed(img, faces.boxes[i:i + 1])[0])
    return out


def jaffe_embeddings(folder: Path, detector, embedder) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 128)`` embeddings and ``(n,)`` person codes of the JAFFE photos."""
    from analytics.images import load_image

    paths = sorted(folder.glob("*/*.tiff"))
    vecs = _embed_largest(detector, embedder, [load_image(p) for p in paths])
    keep = [i for i, v in enumerate(vecs) if v is not None]
    return (np.stack([vecs[i] for i in keep]),
            np.array([paths[i].name.split(".")[0] for i in keep]))


def demo_embeddings(detector, embedder) -> tuple[np.ndarray, np.ndarray, dict]:
    """Embeddings and identities of the demo media, plus the unverified single_face.jpg."""
    from analytics.images import load_image
    from analytics.video import iter_frames
    from brandmood.core.fetch import pyfeat_media

    vecs, ids = [], []
    for video, person in (("single_face.mp4", "video-a"), ("WolfgangLanger_Pexels.mp4",
                                                           "video-b")):
        frames = [f.image for f in iter_frames(pyfeat_media(video), every_s=0.5)][:8]
        for v in _embed_largest(detector, embedder, frames):
            if v is not None:
                vecs.append(v)
                ids.append(person)
    for name in ("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg"):
        v = _embed_largest(detector, embedder, [load_image(pyfeat_media(name))])[0]
        if v is not None:
            vecs.append(v)
            ids.append(name)
    img = load_image(pyfeat_media("multi_face.jpg"))
    faces = detector.detect([img])[0]
    for k, v in enumerate(embedder.embed(img, faces.boxes)):
        vecs.append(v)
        ids.append(f"multi_face-{k}")
    e = np.stack(vecs)
    sf = _embed_largest(detector, embedder, [load_image(pyfeat_media("single_face.jpg"))])[0]
    a = e[np.array(ids) == "video-a"]
    extra = {"single_face_jpg_to_single_face_mp4": (
        [float(x) for x in np.linalg.norm(a - sf, axis=1)] if sf is not None else None)}
    return e, np.array(ids), extra


def pair_distances(e: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances of all pairs: ``(same-person, different-people)``."""
    d = np.linalg.norm(e[:, None] - e[None], axis=2)
    iu = np.triu_indices(len(e), 1)
    same = ids[iu[0]] == ids[iu[1]]
    return d[iu][same], d[iu][~same]


def identification(e: np.ndarray, ids: np.ndarray, enrolled: tuple[str, ...],
                   threshold: float, n_refs: int = N_REFS) -> tuple[float, float]:
    """``(identification accuracy, false-match rate)`` enrolling ``n_refs`` faces of each."""
    refs, probes, truth = [], [], []
    for k, person in enumerate(sorted(set(ids.tolist()))):
        idx = np.flatnonzero(ids == person)
        if person in enrolled:
            refs += [(k, e[i]) for i in idx[:n_refs]]
            probes += [e[i] for i in idx[n_refs:]]
            truth += [k] * len(idx[n_refs:])
        else:
            probes += [e[i] for i in idx]
            truth += [-1] * len(idx)
    got = np.array([-1 if m.ambassador_id is None else m.ambassador_id
                    for m in match(np.stack(probes), Gallery.build(refs), threshold)])
    t = np.array(truth)
    acc = float(np.mean(got[t >= 0] == t[t >= 0])) if (t >= 0).any() else float("nan")
    fmr = float(np.mean(got[t < 0] >= 0)) if (t < 0).any() else float("nan")
    return acc, fmr


def error_curve(e: np.ndarray, ids: np.ndarray, n_enrolled: int, n_refs: int,
                choices: list[tuple[str, ...]] | None = None) -> np.ndarray:
    """``(len(GRID),)`` mean (miss + false-match) over every choice of enrolled people."""
    people = tuple(sorted(set(ids.tolist())))
    errs = []
    for enrolled in choices or itertools.combinations(people, n_enrolled):
        errs.append([(1 - a) + f for a, f in (identification(e, ids, enrolled, t, n_refs)
                                              for t in GRID)])
    return np.mean(errs, axis=0)


def calibrate(curves: list[np.ndarray]) -> float:
    """The smallest grid threshold with the fewest errors, sources weighted equally."""
    return float(GRID[int(np.argmin(np.mean(curves, axis=0)))])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval", type=Path, default=EVAL)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    from analytics.detection import MTCNNDetector

    detector, embedder = MTCNNDetector(), get_embedder()
    je, jid = jaffe_embeddings(args.eval / "jaffe-dev", detector, embedder)
    de, did, extra = demo_embeddings(detector, embedder)
    # Demo: enroll each video person from 2 frames; all other demo faces are strangers.
    demo_curve = error_curve(de, did, 1, DEMO_REFS, [("video-a",), ("video-b",)])
    threshold = calibrate([error_curve(je, jid, 3, N_REFS), demo_curve])
    people = tuple(sorted(set(jid.tolist())))
    rows: dict[str, list] = {"calibrated (cross-validated)": [], "chosen": [],
                             "dlib 0.6": []}
    for enrolled in itertools.combinations(people, 3):
        inside = np.isin(jid, enrolled)
        t_cv = calibrate([error_curve(je[inside], jid[inside], 2, N_REFS), demo_curve])
        for key, t in (("calibrated (cross-validated)", t_cv), ("chosen", threshold),
                       ("dlib 0.6", DLIB_USUAL)):
            rows[key].append((t, *identification(je, jid, enrolled, t)))
    js, jd = pair_distances(je, jid)
    ds, dd = pair_distances(de, did)
    demo_at = {v: identification(de, did, (v,), threshold, DEMO_REFS)
               for v in ("video-a", "video-b")}
    result = {"threshold": threshold, "n_jaffe_faces": len(je), "n_demo_faces": len(de),
              "protocol": f"enroll 3 of 5 JAFFE people x {N_REFS} photos, 10 splits; "
                          f"match to the mean reference",
              "jaffe_same_pct50_95": np.percentile(js, [50, 95]).tolist(),
              "jaffe_different_pct1_5": np.percentile(jd, [1, 5]).tolist(),
              "demo_same_max": float(ds.max()), "demo_different_min": float(dd.min()),
              "demo_at_threshold": {k: {"identification_accuracy": a, "false_match_rate": f}
                                    for k, (a, f) in demo_at.items()},
              **extra}
    print(f"{'threshold rule':30s} {'threshold':>9s} {'ident. acc':>10s} {'false match':>11s}")
    for key, vals in rows.items():
        a = np.array(vals)
        result[key] = {"threshold_mean": float(a[:, 0].mean()),
                       "identification_accuracy": float(a[:, 1].mean()),
                       "false_match_rate": float(a[:, 2].mean())}
        print(f"{key:30s} {a[:, 0].mean():9.3f} {a[:, 1].mean():10.3f} {a[:, 2].mean():11.3f}")
    print(f"chosen threshold {threshold:.3f}; demo at it: {demo_at}; "
          f"single_face.jpg to its video: {extra['single_face_jpg_to_single_face_mp4']}")
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
