#!/usr/bin/env python
"""Building and reading the sharded token cache as the corpus grows ×1, ×5, ×20: files/s and peak memory.

    python benchmarks/scale.py [--sizes 1 5 20] [--workers N] [--read-batches 300] [--out benchmarks/results/scale.json]

×k is the bundled corpus (12,785 files) followed by k − 1 augmented copies of every piece (the encodings lesson's
`augment`: pitch shift, time stretch, velocity jitter, a different seed per copy), so ×20 is 255,700
pieces, each encoded from its file. Each size runs in two fresh Python processes, one after the other:

- build: `build_shards` into an empty temporary folder with `--workers` processes (default: all cores);
  it reports files/s and its own peak RSS (the process that gathers the tokens and writes the shards;
  the encoding workers are separate processes and each holds one piece at a time);
- read: `shard_dataset` (language-model windows of 256 tokens, batches of 64, shuffled, shards
  interleaved) for `--read-batches` batches drawn across the shards; it reports windows/s and its peak RSS.

Flat memory means the peak RSS of ×20 is about that of ×1 (`rss_growth_x20_over_x1` near 1), while
the build time grows linearly: the same cost per added file between sizes (`ms_per_added_file_…` about
equal, `slope_growth` near 1) on top of a fixed start-up (workers spawned, libraries imported), which
weighs on the files/s of ×1 only. On a machine shared with other work the wall-clock times scatter with
the load; the CPU time of the build (the process and its encoding workers, `cpu_s`) does not, so
`cpu_ms_per_file` is the steadier measure of the cost per file. Run it twice: the first run also reads the files from a cold disk cache.
The last line holds the figures; the whole run (machine, settings, one row per size, figures) is saved as JSON
in `--out`, which the scale lesson loads and shows.
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024          # Linux: kilobytes

def cpu_s() -> float:
    "CPU seconds (user + system) of this process and of its finished children (the encoding workers)."
    return sum(r.ru_utime + r.ru_stime for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))

def build(copies: int, root: str, workers: int):
    from maestro_lessons.corpus import load_manifest
    from maestro_lessons.encodings import PerformanceEncoding
    from maestro_lessons.scale import augmented_manifest, build_shards
    m = augmented_manifest(load_manifest(), copies)
    base, c0 = peak_mb(), cpu_s()
    t0 = time.perf_counter()
    cache = build_shards(m, PerformanceEncoding(), root=root, workers=workers, progress=False)
    dt, cpu = time.perf_counter() - t0, cpu_s() - c0
    print(json.dumps(dict(files=len(m), seconds=dt, cpu_s=cpu, files_per_s=len(m) / dt, tokens=cache.n_tokens, shards=len(cache.index["shards"]),
                          failed=len(cache.failed), peak_rss_mb=peak_mb(), baseline_mb=base, path=str(cache.path))))

def read(path: str, batches: int):
    import tensorflow as tf
    from maestro_lessons.scale import ShardCache, shard_dataset
    cache = ShardCache.load(path)
    ds = shard_dataset(cache, length=256, kind="lm", batch_size=64, shuffle=True).take(batches)
    next(iter(ds.take(1)))                                                       # start the runtime
    base, n, t0 = peak_mb(), 0, time.perf_counter()
    for x, y in ds: n += int(x.shape[0])
    dt = time.perf_counter() - t0
    print(json.dumps(dict(windows=n, windows_per_s=n / dt, read_peak_rss_mb=peak_mb(), read_baseline_mb=base)))

def child(*args) -> dict:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run([sys.executable, __file__, *map(str, args)], capture_output=True, text=True, env=env, cwd=ROOT)
    if r.returncode: sys.exit(f"{args} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 5, 20])
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--read-batches", type=int, default=300)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json")
    a = ap.parse_args()
    figures, builds, rows = {}, {}, []
    load_before = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPU cores, {a.workers} workers")
    with tempfile.TemporaryDirectory() as tmp:
        for k in a.sizes:
            b = child("--build", k, Path(tmp) / f"x{k}", a.workers)
            r = child("--read", b["path"], a.read_batches)
            print(f"x{k:<3} {b['files']:>8,} files {b['seconds']:7.1f} s {b['files_per_s']:7.0f} files/s  "
                  f"{b['tokens']:>12,} tokens in {b['shards']} shards, {b['failed']} failed; build peak RSS {b['peak_rss_mb']:.0f} MB "
                  f"(manifest loaded: {b['baseline_mb']:.0f} MB); read {r['windows_per_s']:.0f} windows/s, "
                  f"peak RSS {r['read_peak_rss_mb']:.0f} MB (runtime started: {r['read_baseline_mb']:.0f} MB)", flush=True)
            builds[k] = (b["files"], b["seconds"])
            rows.append(dict(copies=k, files=b["files"], tokens=b["tokens"], shards=b["shards"], failed=b["failed"],
                             build_s=round(b["seconds"], 2), files_per_s=round(b["files_per_s"]),
                             cpu_s=round(b["cpu_s"], 2), cpu_ms_per_file=round(1000 * b["cpu_s"] / b["files"], 3),
                             build_peak_rss_mb=round(b["peak_rss_mb"]), manifest_rss_mb=round(b["baseline_mb"]),
                             read_windows=r["windows"], read_windows_per_s=round(r["windows_per_s"]),
                             read_peak_rss_mb=round(r["read_peak_rss_mb"]), runtime_rss_mb=round(r["read_baseline_mb"])))
            figures.update({f"files_per_s_x{k}": round(b["files_per_s"]), f"cpu_ms_per_file_x{k}": round(1000 * b["cpu_s"] / b["files"], 3), f"peak_rss_mb_x{k}": round(b["peak_rss_mb"]),
                            f"build_added_mb_x{k}": round(b["peak_rss_mb"] - b["baseline_mb"]),
                            f"read_windows_per_s_x{k}": round(r["windows_per_s"]), f"read_peak_rss_mb_x{k}": round(r["read_peak_rss_mb"])})
            import shutil; shutil.rmtree(b["path"], ignore_errors=True)
    lo, hi = min(a.sizes), max(a.sizes)
    if lo != hi:
        figures[f"rss_growth_x{hi}_over_x{lo}"] = round(figures[f"peak_rss_mb_x{hi}"] / figures[f"peak_rss_mb_x{lo}"], 2)
        figures[f"read_rss_growth_x{hi}_over_x{lo}"] = round(figures[f"read_peak_rss_mb_x{hi}"] / figures[f"read_peak_rss_mb_x{lo}"], 2)
        figures[f"time_per_file_x{hi}_over_x{lo}"] = round(figures[f"files_per_s_x{lo}"] / figures[f"files_per_s_x{hi}"], 2)
    # Linear time means a constant cost per added file: the slope between consecutive sizes (the fixed start-up,
    # workers spawned and libraries imported, weighs on files/s of the small sizes but not on the slopes).
    sizes, slopes = sorted(builds), []
    for a_, b_ in zip(sizes, sizes[1:]):
        (n0, t0), (n1, t1) = builds[a_], builds[b_]
        slopes.append(round(1000 * (t1 - t0) / (n1 - n0), 3))
        figures[f"ms_per_added_file_x{a_}_x{b_}"] = slopes[-1]
    if len(slopes) >= 2: figures["slope_growth"] = round(slopes[-1] / slopes[0], 2)
    result = dict(command=" ".join(["python benchmarks/scale.py", *sys.argv[1:]]), date=time.strftime("%Y-%m-%d"),
                  cpus=os.cpu_count(), workers=a.workers, read_batches=a.read_batches, batch_size=64, window=256,
                  load_average_before=round(load_before, 2), load_average_after=round(os.getloadavg()[0], 2),
                  sizes=rows, figures=figures)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(" ".join(f"{k}={v}" for k, v in figures.items()))

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--build": build(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--read": read(sys.argv[2], int(sys.argv[3]))
    else: main()
