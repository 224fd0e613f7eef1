#!/usr/bin/env python
"""How often `estimate_key` (Krumhansl–Schmuckler in NumPy) agrees with music21's key analysis, on corpus pieces.

    python benchmarks/key_agreement.py [--composer Bach] [--limit 100]

For each piece (the first `limit` of `composer` in the bundled corpus, in manifest order; 0: all) our
estimate reads the MIDI file with `read_notes(unit="beat")`. music21 analyses the same piece twice over:

- **same notes**: a music21 Stream built from our notes. `analyze('krumhansl')` uses the same profiles and
  the same duration weighting, so this checks the implementation (only exact near-ties may differ).
- **music21's own reading**: `music21.converter.parse` of the same MIDI file (its own MIDI import, with its
  quantisation of offsets and durations), an independent path from file to key.

Each with two methods: `analyze('krumhansl')` (Krumhansl–Kessler profiles, like ours) and `analyze('key')`
(music21's default, the Aarden–Essen profiles). A key agrees when tonic pitch class and mode are equal.
(The corpus's `m21_path` is not used: a stem such as `bach/bwv69.6` can name another file of the same work
than the one exported, and music21's MIDI export expands repeats, so the parsed score has other durations.)
The last line holds the figures.
"""
import argparse, sys, time, warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from maestro_lessons.corpus import load_manifest
from maestro_lessons.notes import read_notes
from maestro_lessons.encodings import estimate_key, PITCH_NAMES

METHODS = ("krumhansl", "key")


def stream_of(notes):
    "A music21 Stream holding `notes` (in beats)."
    import music21
    s = music21.stream.Stream()
    for p, st, en in zip(notes.pitch.tolist(), notes.start.tolist(), notes.end.tolist()):
        n = music21.note.Note(p); n.quarterLength = en - st; s.insert(st, n)
    return s


def keys(s):
    "(tonic pitch class, mode) of music21 Stream `s` by each of METHODS."
    return [(k.tonic.pitchClass, k.mode) for k in (s.analyze(m) for m in METHODS)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--composer", default="Bach")
    ap.add_argument("--limit", type=int, default=100, help="at most this many pieces (0: all)")
    args = ap.parse_args(argv)
    import music21
    m = load_manifest()
    rows = m[m.composer == args.composer]
    if args.limit: rows = rows.head(args.limit)
    if rows.empty: sys.exit(f"no pieces by {args.composer!r} in the manifest")
    res, t0 = [], time.perf_counter()
    for r in rows.itertuples():
        notes = read_notes(r.path, unit="beat")
        ours = tuple(estimate_key(notes)[:2])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            same_notes = keys(stream_of(notes))
            own_read = keys(music21.converter.parse(r.path))
        res.append((r.id, ours, *same_notes, *own_read))
    agree = np.array([[x[1] == k for k in x[2:]] for x in res])          # columns: same notes ×2, own reading ×2
    name = lambda k: f"{PITCH_NAMES[k[0]]} {k[1]}"
    for x in [x for x in res if x[1] != x[4]][:12]:
        print(f"  {x[0]}: ours {name(x[1])}; music21 on its own reading: Krumhansl {name(x[4])}, default {name(x[5])}")
    fig = lambda j: f"{agree[:, j].mean():.1%} ({agree[:, j].sum()}/{len(res)})"
    print(f"{len(res)} {args.composer} pieces in {time.perf_counter() - t0:.0f} s. estimate_key agrees with music21 "
          f"analyze('krumhansl') on {fig(0)} (same notes) and {fig(2)} (music21's own MIDI reading); "
          f"with analyze('key') (Aarden-Essen) on {fig(1)} and {fig(3)}")


if __name__ == "__main__":
    main()
