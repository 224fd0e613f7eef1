#!/usr/bin/env python
"""Building and reading the sharded token cache as the corpus grows ×1, ×5, ×20: files/s and peak memory.

    python benchmarks/scale.py [--sizes 1 5 20] [--workers N] [--read-batches 300] [--out benchmarks/results/scale.json]
    python benchmarks/scale.py --engine [--sizes 1 5]

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

**`--engine`** (sizes ×1 and ×5 by default) compares the two builders of the same shard format, each in a fresh process
on all cores: the course's process pool (`build_shards`) and the Ray Data pipeline (`ray_shards`, the `scale` extra,
a local single-node Ray). It reports files/s (for Ray also without its start-up, `ray.init`), the peak memory of the
builder *and all its processes* (sampled every 50 ms: for Ray its scheduler, object store and workers; for the pool its
workers), the encoding work itself (CPU seconds of the pool's workers, or of the engine's tasks), the same Ray pipeline
run again on the workers already running (`again_s`: a cluster's usual state, no start-up), checks that both caches hold
the same token ids piece by piece (`piece_digests`), and resolves the course's
default install with each engine beside it (`uv pip compile`) to list what each engine adds or changes. It saves
`benchmarks/results/scale_engine.json`, which the scale lesson shows.
"""
import argparse, json, os, resource, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

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

# ---- --engine: the process pool against Ray Data, the same shards ----

class TreeMemory:
    "Peak RSS of this process and all its descendants, summed, sampled every `every` seconds in a thread; `parts`: by kind at the peak."
    def __init__(self, every: float = 0.05): self.every, self.peak, self.parts, self._stop = every, 0, {}, None
    @staticmethod
    def kind(p) -> str:
        "A process's kind: Ray names its workers `ray::…` and its servers by their program; the rest by program name."
        name = p.name()
        if name.startswith("ray::"): return "ray worker"
        return {"python": "python", "python3": "python", "python3.11": "python"}.get(name, name)
    def sample(self) -> tuple[int, dict]:
        import psutil
        me, parts = psutil.Process(), {}
        parts["this process"] = me.memory_info().rss
        for c in me.children(recursive=True):
            try: k, rss = self.kind(c), c.memory_info().rss
            except psutil.Error: continue                                   # a process that ended meanwhile
            parts[k] = parts.get(k, 0) + rss
        return sum(parts.values()), parts
    def __enter__(self):
        import threading
        self._stop = threading.Event()
        def run():
            while not self._stop.is_set():
                total, parts = self.sample()
                if total > self.peak: self.peak, self.parts = total, parts
                self._stop.wait(self.every)
        self._thread = threading.Thread(target=run, daemon=True); self._thread.start(); return self
    def __exit__(self, *exc): self._stop.set(); self._thread.join()

def engine_build(builder: str, copies: int, root: str, cpus: int):
    from maestro_lessons.corpus import load_manifest
    from maestro_lessons.encodings import PerformanceEncoding
    from maestro_lessons.scale import augmented_manifest, build_shards, ray_shards, ray_session
    m, enc = augmented_manifest(load_manifest(), copies), PerformanceEncoding()
    with TreeMemory() as mem:
        t0, c0 = time.perf_counter(), cpu_s()
        if builder == "ray":
            ray_session(num_cpus=cpus)
            t1 = time.perf_counter()
            cache = ray_shards(m, enc, root=root, num_cpus=cpus)
        else:
            t1 = t0
            cache = build_shards(m, enc, root=root, workers=cpus, progress=False)
        t2 = time.perf_counter()
    # the encoding work itself: CPU seconds of the pool's workers (finished children), or of the engine's tasks
    work = cache.index["engine"]["work_cpu_s"] if builder == "ray" else cpu_s() - c0
    again = None
    if builder == "ray":                        # the same pipeline again on the workers now running (a cluster's usual state)
        shutil.rmtree(cache.path)
        t3 = time.perf_counter(); ray_shards(m, enc, root=root, num_cpus=cpus); again = time.perf_counter() - t3
    print(json.dumps(dict(files=len(m), start_s=t1 - t0, run_s=t2 - t1, seconds=t2 - t0, again_s=again, work_cpu_s=work,
                          shards=len(cache.index["shards"]), tokens=cache.n_tokens, failed=len(cache.failed), peak_mb=mem.peak / 2**20,
                          peak_parts_mb={k: round(v / 2**20) for k, v in sorted(mem.parts.items(), key=lambda kv: -kv[1])},
                          path=str(cache.path))))

def digests_equal(a: str, b: str):
    from maestro_lessons.scale import ShardCache, piece_digests
    da, db = piece_digests(ShardCache.load(a)), piece_digests(ShardCache.load(b))
    print(json.dumps(dict(pieces=len(da), same=da == db)))

def resolution() -> dict:
    "What each engine adds to, and changes in, the course's default install, resolved together (`uv pip compile`)."
    import shutil, re
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    def pins(*extra) -> dict:
        with tempfile.TemporaryDirectory() as d:
            req = Path(d) / "in.txt"; req.write_text("\n".join([f"maestro_lessons @ {ROOT.as_uri()}", *extra]) + "\n")
            r = subprocess.run([uv, "pip", "compile", "-q", "--python-version", "3.11", str(req)], capture_output=True, text=True)
            if r.returncode: raise SystemExit(f"uv pip compile failed: {r.stderr[-2000:]}")
            return dict(m.groups() for m in re.finditer(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", r.stdout, re.M))
    base, out = pins(), {}
    for name, req in (("apache-beam 2.77.0", "apache-beam==2.77.0"), ("ray[data] 2.60.0", "ray[data]==2.60.0")):
        got = pins(req)
        out[name] = dict(added=sorted(set(got) - set(base)), changed={p: [base[p], v] for p, v in got.items() if p in base and base[p] != v})
    return out

def engine_main(a):
    rows, figures = [], {}
    load_before = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPU cores; the course's default install beside each engine:")
    res = resolution()
    for name, r in res.items(): print(f"  {name}: adds {len(r['added'])}, changes {r['changed'] or 'nothing'}")
    with tempfile.TemporaryDirectory() as tmp:
        for k in a.sizes:
            got = {b: child("--engine-build", b, k, Path(tmp) / f"{b}-x{k}", a.workers) for b in ("pool", "ray")}
            same = child("--digests", got["pool"]["path"], got["ray"]["path"])
            for b, g in got.items():
                rows.append(dict(copies=k, builder=dict(pool="process pool", ray="Ray Data")[b], files=g["files"], shards=g["shards"],
                                 tokens=g["tokens"], failed=g["failed"], start_s=round(g["start_s"], 1), run_s=round(g["run_s"], 1),
                                 again_s=None if g["again_s"] is None else round(g["again_s"], 1), work_cpu_s=round(g["work_cpu_s"], 1),
                                 files_per_s=round(g["files"] / g["seconds"]), files_per_s_running=round(g["files"] / g["run_s"]),
                                 peak_mb=round(g["peak_mb"]), same_tokens=same["same"], peak_by_process_mb=g["peak_parts_mb"]))
                print(f"x{k:<3} {rows[-1]['builder']:>12}: {g['files']:,} files, start {g['start_s']:.1f} s, run {g['run_s']:.1f} s, "
                      f"{rows[-1]['files_per_s']} files/s ({rows[-1]['files_per_s_running']} running), again {g['again_s'] and round(g['again_s'], 1)} s, "
                      f"encoding work {g['work_cpu_s']:.1f} CPU s, peak {g['peak_mb']:.0f} MB "
                      f"(all processes: {g['peak_parts_mb']}), same token ids: {same['same']}", flush=True)
            p, r = got["pool"], got["ray"]
            figures.update({f"pool_files_per_s_x{k}": round(p["files"] / p["seconds"]), f"ray_files_per_s_x{k}": round(r["files"] / r["seconds"]),
                            f"ray_over_pool_time_x{k}": round(r["seconds"] / p["seconds"], 2),
                            f"ray_running_over_pool_time_x{k}": round(r["run_s"] / p["seconds"], 2), f"ray_start_s_x{k}": round(r["start_s"], 1),
                            f"ray_again_over_pool_time_x{k}": round(r["again_s"] / p["seconds"], 2),
                            f"ray_work_over_pool_work_x{k}": round(r["work_cpu_s"] / p["work_cpu_s"], 2),
                            f"pool_peak_mb_x{k}": round(p["peak_mb"]), f"ray_peak_mb_x{k}": round(r["peak_mb"]),
                            f"identical_x{k}": same["same"]})
            for g in got.values(): shutil.rmtree(g["path"], ignore_errors=True)
    result = dict(command=" ".join(["python benchmarks/scale.py", *sys.argv[1:]]), date=time.strftime("%Y-%m-%d"), cpus=os.cpu_count(),
                  workers=a.workers, load_average_before=round(load_before, 2), load_average_after=round(os.getloadavg()[0], 2),
                  resolution=res, sizes=rows, figures=figures)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(" ".join(f"{k}={v}" for k, v in figures.items()))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", help="copies of the corpus (default: 1 5 20; with --engine 1 5)")
    ap.add_argument("--engine", action="store_true", help="compare the process pool with the Ray Data pipeline")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--read-batches", type=int, default=300)
    ap.add_argument("--out", type=Path, help="the JSON to write (default: benchmarks/results/scale.json, or scale_engine.json with --engine)")
    a = ap.parse_args()
    a.out = a.out or RESULTS / ("scale_engine.json" if a.engine else "scale.json")
    if a.engine:
        a.sizes = a.sizes or [1, 5]
        return engine_main(a)
    a.sizes = a.sizes or [1, 5, 20]
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
            shutil.rmtree(b["path"], ignore_errors=True)
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
    elif len(sys.argv) > 1 and sys.argv[1] == "--engine-build": engine_build(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--digests": digests_equal(sys.argv[2], sys.argv[3])
    else: main()
