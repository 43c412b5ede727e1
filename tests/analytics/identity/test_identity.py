"""Ambassador recognition: real embeddings on real frames, matching arithmetic, calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analytics.identity import (
    DEFAULT_THRESHOLD,
    EMBEDDING_DIM,
    Gallery,
    IdentityError,
    calibrate_threshold,
    distances,
    largest_face,
    match,
    match_tracks,
    reference_vectors,
    vector_from_bytes,
    vector_to_bytes,
)


def _largest(detector, image):
    faces = detector.detect([image])[0]
    return faces[largest_face(faces):largest_face(faces) + 1]


def test_same_person_in_two_video_frames_is_found_and_another_person_is_not(
        detector, embedder, video_frames, demo_faces):
    assert len(video_frames) >= 2
    ref = embedder.embed_detections(video_frames[0], _largest(detector, video_frames[0]))
    probe = embedder.embed_detections(video_frames[-1], _largest(detector, video_frames[-1]))
    assert ref.shape == probe.shape == (1, EMBEDDING_DIM)
    gallery = Gallery.build([(7, ref[0])])
    same = match(probe, gallery)[0]
    assert same.ambassador_id == 7
    assert 0.0 < same.distance < DEFAULT_THRESHOLD

    image, faces = demo_faces["multi_face.jpg"]
    assert len(faces) >= 3
    others = match(embedder.embed_detections(image, faces), gallery)
    assert [m.ambassador_id for m in others] == [None] * len(faces)
    assert min(m.distance for m in others) > DEFAULT_THRESHOLD
    assert all(m.nearest_id == 7 for m in others)


def test_embeddings_of_different_people_are_far_apart(embedder, demo_faces):
    vecs = []
    for name in ("0-f1-su-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg"):
        image, faces = demo_faces[name]
        vecs.append(embedder.embed(image, faces.boxes[:1])[0])
    d = distances(np.stack(vecs), Gallery.build(list(enumerate(vecs))))
    assert np.allclose(np.diag(d), 0.0, atol=1e-6)
    off = d[~np.eye(3, dtype=bool)]
    assert off.min() > DEFAULT_THRESHOLD


def test_embed_rejects_a_bad_image_and_handles_no_boxes(embedder):
    with pytest.raises(IdentityError, match="uint8 RGB"):
        embedder.embed(np.zeros((10, 10), np.uint8), np.zeros((1, 4)))
    assert embedder.embed(np.zeros((10, 10, 3), np.uint8), np.zeros((0, 4))).shape == (0, 128)


def _unit(i: int) -> np.ndarray:
    v = np.zeros(EMBEDDING_DIM, np.float32)
    v[i] = 1.0
    return v


def test_threshold_decides_between_match_and_unknown():
    gallery = Gallery.build([(1, _unit(0)), (2, _unit(1))])
    probe = np.stack([_unit(0) * 0.7, _unit(1) * 0.5, _unit(2)])  # distances 0.3, 0.5, 1.0…
    got = match(probe, gallery, threshold=0.5)
    assert got[0].ambassador_id == 1 and got[0].distance == pytest.approx(0.3)
    assert got[1].ambassador_id is None and got[1].nearest_id == 2  # 0.5 is not under 0.5
    assert got[1].distance == pytest.approx(0.5)
    assert got[2].ambassador_id is None and got[2].distance == pytest.approx(np.sqrt(2))
    assert match(probe, gallery, threshold=0.51)[1].ambassador_id == 2
    assert all(m.ambassador_id is None for m in match(probe, gallery, threshold=0.1))
    with pytest.raises(ValueError, match="threshold"):
        match(probe, gallery, threshold=0.0)


def test_empty_gallery_leaves_every_face_unknown():
    got = match(np.stack([_unit(0)]), Gallery.build([]))
    assert got[0].ambassador_id is None and np.isnan(got[0].distance)


def test_identity_is_decided_per_track_by_the_mean_embedding():
    gallery = Gallery.build([(1, _unit(0))])
    # Track 5: one frame at 0.45 and one at 0.65 from the reference; the mean is at 0.55.
    e = np.stack([_unit(0) * 0.55, _unit(0) * 0.35, _unit(0) * 0.45, _unit(3)])
    tracks = np.array([5, 5, -1, -1])
    got = match_tracks(e, tracks, gallery, threshold=0.6)
    assert got[0] == got[1]
    assert got[0].ambassador_id == 1 and got[0].distance == pytest.approx(0.55)
    assert got[2].ambassador_id == 1 and got[2].distance == pytest.approx(0.55)
    assert got[3].ambassador_id is None
    got = match_tracks(e, tracks, gallery, threshold=0.5)
    assert got[0].ambassador_id is None and got[1].ambassador_id is None
    with pytest.raises(ValueError, match="track_ids"):
        match_tracks(e, tracks[:2], gallery)


def test_calibration_picks_the_threshold_with_fewest_errors():
    same = np.array([0.2, 0.3, 0.35, 0.5])
    different = np.array([0.4, 0.6, 0.7, 0.8])
    # Between 0.35 and 0.4: one miss (0.5) and no false match → 0.375 is the first best.
    assert calibrate_threshold(same, different) == pytest.approx(0.375)
    assert calibrate_threshold(np.array([0.1]), np.array([0.9])) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        calibrate_threshold(np.array([]), different)


def test_vectors_round_trip_and_enrollment_limits():
    v = np.arange(EMBEDDING_DIM, dtype=np.float32) / 7
    assert np.array_equal(vector_from_bytes(vector_to_bytes(v)), v)
    with pytest.raises(ValueError):
        vector_to_bytes(np.zeros(5))
    with pytest.raises(ValueError):
        vector_from_bytes(b"\0" * 12)
    assert reference_vectors(np.zeros((3, EMBEDDING_DIM))).shape == (3, EMBEDDING_DIM)
    with pytest.raises(IdentityError, match="1 to 20"):
        reference_vectors(np.zeros((21, EMBEDDING_DIM)))
    with pytest.raises(IdentityError):
        reference_vectors(np.zeros((0, EMBEDDING_DIM)))


def test_jaffe_people_are_told_apart(shared_eval: Path, detector, embedder):
    from analytics.images import load_image

    folder = shared_eval / "jaffe-dev"
    people = ("KA", "KL", "KM", "KR", "MK")
    paths = {p: sorted(folder.glob(f"*/{p}.*.tiff"))[:6] for p in people}
    refs, probes, truth = [], [], []
    for k, person in enumerate(people):
        for i, path in enumerate(paths[person]):
            img = load_image(path)
            vec = embedder.embed_detections(img, _largest(detector, img))[0]
            if i < 3:
                refs.append((k, vec))
            else:
                probes.append(vec)
                truth.append(k)
    enrolled = Gallery.build([r for r in refs if r[0] < 3])  # KA, KL, KM enrolled
    got = match(np.stack(probes), enrolled)
    truth_arr = np.array(truth)
    ids = np.array([-1 if m.ambassador_id is None else m.ambassador_id for m in got])
    known = truth_arr < 3
    assert np.mean(ids[known] == truth_arr[known]) >= 0.7
    assert np.mean(ids[~known] >= 0) <= 0.5  # not-enrolled people mostly stay unknown


def test_model_archive_is_pinned_and_members_are_checked(tmp_path: Path, embedder):
    from analytics.identity_registry import FACE_RECOGNITION_MODELS
    from brandmood.core.fetch import (
        AssetError,
        Sdist,
        cache_dir,
        ensure_package,
        package_member,
        sha256_file,
    )

    real = ensure_package(FACE_RECOGNITION_MODELS, fetch=False)  # fetched for the embedder
    assert sha256_file(real) == FACE_RECOGNITION_MODELS.sha256
    with pytest.raises(AssetError, match="has no"):
        package_member(FACE_RECOGNITION_MODELS, "face_recognition_models/nope.dat",
                       cache=cache_dir())
    fake = Sdist("face-recognition-models", "0.3.0", real.name, "0" * 64)
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / real.name).write_bytes(b"tampered")
    with pytest.raises(AssetError, match="does not match"):
        ensure_package(fake, cache=tmp_path)
    with pytest.raises(AssetError, match="brandmood fetch"):
        ensure_package(FACE_RECOGNITION_MODELS, cache=tmp_path / "empty", fetch=False)
