#!/usr/bin/env python
"""Files per second of `read_notes` against pretty_midi and music21, on the same corpus files, in one run.

    python benchmarks/read_notes.py [--per-composer 8] [--seed 0] [--min-time 2]

The same files for every reader: `per-composer` pieces of each composer of the bundled corpus (a fixed
seed, so every run reads the same files), so that short folk tunes and long quartet movements both count.
Every file is timed on its own; fast readers go over the sample again until `min-time` seconds have
passed and keep the mean per file. Files/s is files over the summed time per file. The ratios are also
printed per composer, because they depend on file size: on a 30-note folk tune every reader's fixed cost
dominates, on a quartet movement the work per event does.
Target (issue 2): read_notes ≥ 100× pretty_midi and ≥ 1,000× music21. The last line holds the figures, and
`--out` (default benchmarks/results/read_notes.json) keeps them for the notes lesson, which shows them.
"""
import argparse, json, platform, sys, time, warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from maestro_lessons.corpus import load_manifest
from maestro_lessons.notes import read_notes


def seconds_per_file(read, files, min_time):
    "Mean seconds each file takes to read (passes over `files` until `min_time` s), and how many raised."
    total, passes, failed, t_start = np.zeros(len(files)), 0, 0, time.perf_counter()
    while True:
        for i, f in enumerate(files):
            t0 = time.perf_counter()
            try: read(f)
            except Exception: failed += passes == 0
            total[i] += time.perf_counter() - t0
        passes += 1
        if time.perf_counter() - t_start >= min_time: return total / passes, failed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-composer", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "read_notes.json"), help="JSON results ('' for none)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    import pretty_midi, music21
    manifest = load_manifest()
    picks = [g.sample(n=min(args.per_composer, len(g)), random_state=args.seed).index
             for _, g in manifest.groupby("composer")]
    sample = manifest.loc[np.concatenate(picks)]
    files = sample.path.tolist()
    print(f"{len(files)} corpus files, {args.per_composer} per composer, {sample.n_notes.sum()} notes")
    readers = {
        "read_notes": read_notes,
        "pretty_midi": pretty_midi.PrettyMIDI,
        "music21": lambda f: music21.converter.parse(f, forceSource=True),   # no pickle cache: a real parse
    }
    secs = {}
    for name, read in readers.items():
        secs[name], failed = seconds_per_file(read, files, args.min_time if name != "music21" else 0)
        print(f"{name:12s} {len(files) / secs[name].sum():10.1f} files/s   ({failed} of the files raised)", flush=True)
    comp = sample.composer.to_numpy()
    per_composer = {}
    print(f"\n{'composer':12s} {'notes/file':>10s} {'read_notes':>11s} {'pretty_midi':>11s} {'music21':>9s}"
          f" {'x pm':>6s} {'x m21':>7s}   (files/s, ratios)")
    for c in sorted(set(comp)):
        rn, pm, m21 = (np.sum(comp == c) / secs[k][comp == c].sum() for k in readers)
        print(f"{c:12s} {sample.n_notes[comp == c].mean():10.0f} {rn:11.0f} {pm:11.1f} {m21:9.2f} {rn / pm:6.0f} {rn / m21:7.0f}")
        per_composer[c] = dict(notes_per_file=float(sample.n_notes[comp == c].mean()), read_notes=rn, pretty_midi=pm, music21=m21)
    t0 = time.perf_counter()
    for f in manifest.path: read_notes(f)
    whole = len(manifest) / (time.perf_counter() - t0)
    print(f"\nread_notes on the whole corpus ({len(manifest)} files, one pass): {whole:.0f} files/s")
    rate = {k: len(files) / v.sum() for k, v in secs.items()}
    r_pm, r_m21 = rate["read_notes"] / rate["pretty_midi"], rate["read_notes"] / rate["music21"]
    print(f"ratio vs pretty_midi: {r_pm:.0f}x (target 100x)   ratio vs music21: {r_m21:.0f}x (target 1000x)")
    print(f"n_files={len(files)} read_notes_files_per_s={rate['read_notes']:.0f} "
          f"pretty_midi_files_per_s={rate['pretty_midi']:.1f} music21_files_per_s={rate['music21']:.2f} "
          f"ratio_vs_pretty_midi={r_pm:.0f} ratio_vs_music21={r_m21:.0f} whole_corpus_files_per_s={whole:.0f}")
    if args.out:
        res = dict(settings=dict(per_composer=args.per_composer, seed=args.seed, min_time=args.min_time),
                   machine=dict(python=platform.python_version(), processor=platform.machine()),
                   n_files=len(files), files_per_s=rate, ratio_vs_pretty_midi=r_pm, ratio_vs_music21=r_m21,
                   whole_corpus=dict(files=len(manifest), files_per_s=whole), per_composer=per_composer)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1))
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
