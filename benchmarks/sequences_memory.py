#!/usr/bin/env python
"""Peak memory of building the train dataset of the whole bundled corpus, against the size of its tokens.

    python benchmarks/sequences_memory.py [--length 2048] [--stride 2048] [--batch-size 32] [--workers 2]

Each measurement runs in a fresh Python process, so that nothing earlier inflates its peak. The process
imports every library it needs and starts TensorFlow's runtime (one tiny dataset through the same
pipeline) and records its peak RSS: the *baseline*. It then builds the token cache of the whole corpus
(`cold`: in an empty, temporary $MAESTRO_CACHE; `warm`: reading that cache back), splits it by piece,
makes the train `classifier_dataset` and iterates one full epoch of it. Its peak RSS (ru_maxrss) is
compared with baseline + token bytes. Target (issue 4): peak ≤ baseline + 3 × the token arrays.
Because the corpus's token array is small (about 11 MB), fixed costs weigh on that ratio, so the share
taken by loading the manifest and splitting it (the corpus lesson's table, which does not grow with the tokens)
is printed too, and the ratio of what the cache and the dataset alone add (`own_ratio`).
The encoding workers of a cold build are separate processes; the largest one's peak is printed beside.
The last line holds the figures.
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024          # Linux: kilobytes


class WorkerWatch:
    "The largest RSS seen among this process's children (the encoding workers), polled every 0.1 s with psutil."
    # (RUSAGE_CHILDREN would not do: a child forked from a big process reports the parent's RSS at the fork)
    def start(self):
        import threading
        self.peak, self.done = float("nan"), threading.Event()
        try: import psutil
        except ImportError: return self                             # psutil is optional: no worker figure
        me, self.peak = psutil.Process(), 0.0
        def poll():
            while not self.done.wait(0.1):
                for c in me.children(recursive=True):
                    try: self.peak = max(self.peak, c.memory_info().rss / 2**20)
                    except psutil.Error: pass
        self.thread = threading.Thread(target=poll, daemon=True); self.thread.start()
        return self

    def stop(self) -> float:
        self.done.set()
        return self.peak


def child(args):
    "The measurement itself, in a fresh process: prints one JSON line."
    import numpy as np
    import tensorflow as tf
    from sklearn.utils.class_weight import compute_class_weight                    # noqa: F401 (imported, not used)
    from sklearn.model_selection import StratifiedGroupKFold                        # noqa: F401
    from maestro_lessons.corpus import load_manifest, split_pieces
    from maestro_lessons.encodings import PerformanceEncoding
    from maestro_lessons.sequences import TokenCache, token_cache, pieces_by_split, classifier_dataset
    tiny = TokenCache(np.arange(3000, dtype=np.int16) % 300, np.array([0, 1000, 3000]), np.array([0, 1], np.int32),
                      {"settings": {"pad_id": 0}})
    for _ in classifier_dataset(tiny, [0, 1], length=args.length, batch_size=args.batch_size): pass
    baseline = peak_mb()
    workers = WorkerWatch().start()
    t0 = time.perf_counter()
    manifest = load_manifest()
    split = split_pieces(manifest)
    prep = peak_mb()                                   # + the manifest table and the split (the corpus lesson)
    t1 = time.perf_counter()
    cache = token_cache(manifest, PerformanceEncoding(), workers=args.workers, progress=False)
    build_s = time.perf_counter() - t1
    parts = pieces_by_split(cache, manifest, split)
    ds = classifier_dataset(cache, parts["train"], length=args.length, stride=args.stride, batch_size=args.batch_size)
    windows = sum(int(y.shape[0]) for _, y in ds)
    print(json.dumps(dict(baseline_mb=baseline, prep_mb=prep, peak_mb=peak_mb(), workers_peak_mb=workers.stop(),
                          token_mb=cache.tokens.nbytes / 2**20, tokens=len(cache.tokens), dtype=str(cache.tokens.dtype),
                          pieces=len(cache), failed=len(cache.failed), train_pieces=len(parts["train"]),
                          train_windows=windows, built=cache.built, build_s=build_s,
                          seconds=time.perf_counter() - t0)))


def measure(args, cache: str) -> dict:
    "Run `child` in a fresh interpreter with $MAESTRO_CACHE=`cache`; return its figures."
    env = dict(os.environ, MAESTRO_CACHE=cache, TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, __file__, "--child", "--length", str(args.length), "--stride", str(args.stride or args.length),
           "--batch-size", str(args.batch_size), "--workers", str(args.workers)]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode: sys.exit(f"measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--length", type=int, default=2048)
    ap.add_argument("--stride", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child: return child(args)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="maestro-cache-") as cache:
        for run in ("cold", "warm"):
            r = rows[run] = measure(args, cache)
            r["ratio"] = (r["peak_mb"] - r["baseline_mb"]) / r["token_mb"]
            r["own_ratio"] = (r["peak_mb"] - r["prep_mb"]) / r["token_mb"]
            print(f"{run}: {r['pieces']} pieces ({r['failed']} failed), {r['tokens']:,} tokens ({r['dtype']}) = "
                  f"{r['token_mb']:.1f} MB; {r['train_windows']:,} train windows of {args.length} "
                  f"(materialised as int32: {r['train_windows'] * args.length * 4 / 2**20:,.0f} MB); "
                  f"cache {'built' if r['built'] else 'read'} in {r['build_s']:.1f} s; "
                  f"peak RSS {r['peak_mb']:.0f} MB = baseline {r['baseline_mb']:.0f} MB + "
                  f"{r['peak_mb'] - r['baseline_mb']:.0f} MB ({r['ratio']:.2f} × tokens, target ≤ 3), of which "
                  f"{r['prep_mb'] - r['baseline_mb']:.0f} MB for the manifest and split and "
                  f"{r['peak_mb'] - r['prep_mb']:.0f} MB ({r['own_ratio']:.2f} × tokens) for the cache and dataset; "
                  f"largest encoding worker {r['workers_peak_mb']:.0f} MB", flush=True)
    c, w = rows["cold"], rows["warm"]
    ok = max(c["ratio"], w["ratio"]) <= 3
    print(f"peak RSS within baseline + 3 × tokens: {'yes' if ok else 'NO'}")
    print(f"token_mb={c['token_mb']:.1f} baseline_mb={c['baseline_mb']:.0f} peak_rss_mb={c['peak_mb']:.0f} "
          f"ratio={c['ratio']:.2f} warm_baseline_mb={w['baseline_mb']:.0f} warm_peak_rss_mb={w['peak_mb']:.0f} "
          f"warm_ratio={w['ratio']:.2f} prep_mb={c['prep_mb'] - c['baseline_mb']:.0f} own_ratio={c['own_ratio']:.2f} "
          f"warm_own_ratio={w['own_ratio']:.2f} workers_peak_mb={c['workers_peak_mb']:.0f} train_windows={c['train_windows']} "
          f"build_s={c['build_s']:.1f}")


if __name__ == "__main__":
    main()
