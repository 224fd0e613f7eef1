#!/usr/bin/env python
"""Files per second of `read_notes` against pretty_midi and music21, on the same corpus files, in one run.

    python benchmarks/read_notes.py [--n 80] [--seed 0] [--min-time 2]

A random sample of `n` pieces of the bundled corpus (fixed seed, so every run reads the same files)
is read by each library in turn; fast readers repeat the sample until `min-time` seconds have passed.
Target (issue 2): read_notes ≥ 100× pretty_midi and ≥ 1,000× music21. The last line holds the figures.
"""
import argparse, sys, time, warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from maestro_lessons.corpus import load_manifest
from maestro_lessons.notes import read_notes


def files_per_second(read, files, min_time):
    "Files read per second (repeating the list until `min_time` s), and how many files raised."
    n, failed, t0 = 0, 0, time.perf_counter()
    while True:
        for f in files:
            try: read(f)
            except Exception: failed += 1
        n += len(files)
        dt = time.perf_counter() - t0
        if dt >= min_time: return n / dt, failed // (n // len(files))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-time", type=float, default=2.0)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    import pretty_midi, music21
    manifest = load_manifest()
    sample = manifest.sample(n=min(args.n, len(manifest)), random_state=args.seed)
    files = sample.path.tolist()
    print(f"{len(files)} corpus files ({sample.n_notes.sum()} notes; by composer: "
          + ", ".join(f"{k} {v}" for k, v in sample.composer.value_counts().items()) + ")")
    readers = {
        "read_notes": read_notes,
        "pretty_midi": pretty_midi.PrettyMIDI,
        "music21": lambda f: music21.converter.parse(f, forceSource=True),   # no pickle cache: a real parse
    }
    rate, failed = {}, {}
    for name, read in readers.items():
        rate[name], failed[name] = files_per_second(read, files, args.min_time if name != "music21" else 0)
        print(f"{name:12s} {rate[name]:10.1f} files/s   ({failed[name]} of the files raised)", flush=True)
    t0 = time.perf_counter()
    for f in manifest.path: read_notes(f)
    whole = len(manifest) / (time.perf_counter() - t0)
    print(f"read_notes on the whole corpus ({len(manifest)} files, one pass): {whole:.0f} files/s")
    r_pm, r_m21 = rate["read_notes"] / rate["pretty_midi"], rate["read_notes"] / rate["music21"]
    print(f"ratio vs pretty_midi: {r_pm:.0f}x (target 100x)   ratio vs music21: {r_m21:.0f}x (target 1000x)")
    print(f"n_files={len(files)} read_notes_files_per_s={rate['read_notes']:.0f} "
          f"pretty_midi_files_per_s={rate['pretty_midi']:.1f} music21_files_per_s={rate['music21']:.2f} "
          f"ratio_vs_pretty_midi={r_pm:.0f} ratio_vs_music21={r_m21:.0f} whole_corpus_files_per_s={whole:.0f}")


if __name__ == "__main__":
    main()
