"""Run the ``fer`` library's own pipeline (``FER(mtcnn=True).detect_emotions``) and time it.

Runs only inside the benchmark-only venv that ``benchmarks/peer_env.sh`` builds (TensorFlow is
never installed into the app's venv). The app-side benchmarks call it as a subprocess:

    PEER=$(bash benchmarks/peer_env.sh | tail -1)
    $PEER benchmarks/peer_fer.py images a.jpg b.jpg --json out.json
    $PEER benchmarks/peer_fer.py images --list paths.txt --crops      # whole image = one face
    $PEER benchmarks/peer_fer.py video clip.mp4 --every-s 1.0
    $PEER benchmarks/peer_fer.py serve       # JSON lines on stdin/stdout (speed.py interleaves)

Output JSON (stdout, or ``--json OUT``): ``{"load_s", "total_s", "images_per_s", "faces",
"cpu_s", "results": [{"path", "seconds", "faces": [{"box": [x, y, w, h],
"emotions": {label: p}}]}]}``
for images; for a video ``{"load_s", "total_s", "video_s", "frames", "faces",
"realtime_factor", "results": [{"timestamp_ms", "faces": [...]}]}``. Labels are fer's
(angry, disgust, fear, happy, sad, surprise, neutral). Timings exclude model loading and one
warm-up call, and include decoding (fer reads image paths itself with OpenCV).
"""

# torch and torchvision MUST be imported before TensorFlow, or torchvision segfaults.
import torch  # noqa: F401  isort: skip
import torchvision  # noqa: F401  isort: skip

import argparse
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _load_fer(use_tflite: bool):
    """Import TensorFlow + fer and build the detector (MTCNN) and classifier once."""
    t0 = time.perf_counter()
    from fer.fer import FER

    logging.getLogger("fer").setLevel(logging.WARNING)
    detector = FER(mtcnn=True, use_tflite=use_tflite)
    return detector, time.perf_counter() - t0


def _faces(result: list) -> list[dict]:
    return [{"box": [int(v) for v in face["box"]],
             "emotions": {k: float(v) for k, v in face["emotions"].items()}}
            for face in result]


def _cpu_s() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def images_on(detector, paths: list[str], *, crops: bool) -> dict:
    """Run ``detect_emotions`` on each image path (decode included) and time the loop."""
    import cv2

    results = []
    t_all, c_all = time.perf_counter(), _cpu_s()
    for path in paths:
        t0 = time.perf_counter()
        try:
            if crops:
                img = cv2.imread(path)
                if img is None:
                    raise ValueError("OpenCV cannot decode it")
                h, w = img.shape[:2]
                out = detector.detect_emotions(img, face_rectangles=[(0, 0, w, h)])
            else:
                out = detector.detect_emotions(path)
            faces, error = _faces(out), None
        except Exception as exc:
            faces, error = [], f"{type(exc).__name__}: {exc}"
        results.append({"path": path, "seconds": time.perf_counter() - t0, "faces": faces,
                        "error": error})
    total, cpu = time.perf_counter() - t_all, _cpu_s() - c_all
    n_faces = sum(len(r["faces"]) for r in results)
    return {"total_s": total, "cpu_s": cpu, "images": len(paths),
            "images_per_s": len(paths) / total if total > 0 else 0.0,
            "faces": n_faces, "faces_per_s": n_faces / total if total > 0 else 0.0,
            "results": results}


def video_on(detector, path: str, *, every_s: float) -> dict:
    """Sample one frame every ``every_s`` seconds with OpenCV and run ``detect_emotions``."""
    import cv2

    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise ValueError(f"cannot open video {path}")
    results = []
    next_ms = last_ms = 0.0
    t0, c0 = time.perf_counter(), _cpu_s()
    while cap.grab():
        ts = cap.get(cv2.CAP_PROP_POS_MSEC)
        last_ms = ts
        if ts + 1e-6 < next_ms:
            continue
        ok, frame = cap.retrieve()
        if not ok:
            continue
        results.append({"timestamp_ms": int(ts), "faces": _faces(detector.detect_emotions(frame))})
        next_ms = ts + every_s * 1000.0
    total, cpu = time.perf_counter() - t0, _cpu_s() - c0
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    cap.release()
    video_s = last_ms / 1000.0 + (1.0 / fps if fps else 0.0)
    return {"total_s": total, "cpu_s": cpu, "video_s": video_s, "frames": len(results),
            "faces": sum(len(r["faces"]) for r in results),
            "realtime_factor": video_s / total if total > 0 else 0.0, "results": results}


def serve(detector, load_s: float) -> int:
    """Answer one JSON request per stdin line with one JSON line on the real stdout.

    Requests: ``{"images": [paths], "crops": false}`` or ``{"video": path, "every_s": 1.0}``;
    ``{"warmup": path}`` runs one untimed call. Library output is sent to stderr so stdout
    carries only answers.
    """
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    out.write(json.dumps({"ready": True, "load_s": load_s}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            if "warmup" in req:
                detector.detect_emotions(req["warmup"])
                ans: dict = {"ok": True}
            elif "video" in req:
                ans = video_on(detector, req["video"], every_s=float(req.get("every_s", 1.0)))
            else:
                ans = images_on(detector, list(req["images"]), crops=bool(req.get("crops")))
        except Exception as exc:
            ans = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(ans) + "\n")
        out.flush()
    return 0


def video_first_frame(path: str):
    """The first frame of a video (BGR) for a warm-up call, or None."""
    import cv2

    cap = cv2.VideoCapture(path)
    ok, frame = cap.read()
    cap.release()
    return frame if ok else None


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    img = sub.add_parser("images", help="time detect_emotions over image files")
    img.add_argument("paths", nargs="*")
    img.add_argument("--list", type=Path, help="text file with one image path per line")
    img.add_argument("--crops", action="store_true", help="each image is one face crop")
    img.add_argument("--warmup", type=int, default=1, help="untimed calls first (default 1)")
    vid = sub.add_parser("video", help="time detect_emotions over sampled video frames")
    vid.add_argument("path")
    vid.add_argument("--every-s", type=float, default=1.0)
    srv = sub.add_parser("serve", help="answer JSON requests on stdin (see serve())")
    for p in (img, vid, srv):
        p.add_argument("--keras", action="store_true",
                       help="use fer's Keras HDF5 model instead of its default quantized TFLite")
        p.add_argument("--json", type=Path, help="write the JSON here instead of stdout")
    args = parser.parse_args(argv)

    detector, load_s = _load_fer(use_tflite=not args.keras)
    if args.mode == "serve":
        return serve(detector, load_s)
    if args.mode == "images":
        paths = list(args.paths)
        if args.list:
            paths += [ln.strip() for ln in args.list.read_text().splitlines() if ln.strip()]
        if not paths:
            parser.error("no images given")
        for path in paths[:args.warmup]:
            detector.detect_emotions(path)
        out = images_on(detector, paths, crops=args.crops)
    else:
        first = video_first_frame(args.path)
        if first is not None:
            detector.detect_emotions(first)  # warm-up, not timed
        out = video_on(detector, args.path, every_s=args.every_s)
    out.update(load_s=load_s, use_tflite=not args.keras)
    text = json.dumps(out)
    if args.json:
        args.json.write_text(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
