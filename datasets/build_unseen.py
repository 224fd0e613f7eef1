#!/usr/bin/env python
"""Music the classifier never hears in training: music21 corpus collections left out of the bundled corpus, in two tiers
named before any measurement, exported by the corpus builder (`build_corpus.export`, every note checked against its score).

    python datasets/build_unseen.py     # writes datasets/unseen/midi/<collection>/*.mid and datasets/unseen/manifest.csv

- **far**: music unlike every composer the classifier knows: Romantic piano and song, ragtime, Viennese atonality,
  hymns and popular songs (Chopin, Joplin, Schoenberg, Webern, Beach, Robert and Clara Schumann, Schubert,
  Liliʻuokalani, J. R. Johnson, Verdi, Weber, two lead sheets).
- **near**: music close to a known composer: Renaissance and trecento polyphony (near Palestrina and Monteverdi) and
  late Baroque (near Bach): Josquin, 15 trecento pieces (seeded sample), Luca, Ciconia, Lusitano, C. P. E. Bach,
  Handel, Corelli.

The classifier lesson measures its refusal rule on these; the tiers are fixed here, not chosen by the result.
"""
from __future__ import annotations

import csv, hashlib, random, sys, warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE)); sys.path.insert(0, str(HERE.parent))
OUT = HERE / "unseen"
TIERS = {
    "far": ("chopin", "joplin", "schoenberg", "webern", "beach", "schumann_robert", "schumann_clara", "schubert",
            "liliuokalani", "johnson_j_r", "verdi", "weber", "leadSheet"),
    "near": ("josquin", "trecento", "luca", "ciconia", "lusitano", "cpebach", "handel", "corelli"),
}
SAMPLE = {"trecento": 15}                     # at most this many pieces of a large collection (random, seed 0)
VOICES_AS_TUNES = {"josquin"}                 # ABC files that write each voice as its own tune: joined into one score
SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc")
COLUMNS = ["id", "composer", "collection", "tier", "title", "m21_path", "midi", "n_notes", "duration_s", "sha256"]


def sources(coll: str) -> list[Path]:
    "The score files of a music21 collection, one per work (MusicXML preferred over other formats of the same work)."
    from build_corpus import corpus_root
    files = {}
    for p in sorted((corpus_root() / coll).rglob("*")):
        if p.suffix in SUFFIXES and (p.with_suffix("") not in files or SUFFIXES.index(p.suffix) < SUFFIXES.index(files[p.with_suffix("")].suffix)):
            files[p.with_suffix("")] = p
    picked = sorted(files.values())
    if coll in SAMPLE and len(picked) > SAMPLE[coll]: picked = sorted(random.Random(0).sample(picked, SAMPLE[coll]))
    return picked


def joined_voices(scores):
    "One score holding the parts of several one-voice scores (the voices of a piece written as separate ABC tunes)."
    from music21 import stream
    joined = stream.Score()
    for sc in scores:
        for part in sc.parts: joined.insert(0, part)
    joined.metadata = scores[0].metadata
    return joined


def export_piece(path: Path, coll: str, tier: str) -> list[dict]:
    "Export every score in one music21 source; return its manifest rows (a score that does not match is reported)."
    from music21 import corpus
    from build_corpus import corpus_root, export, slug, score_title, atomic_write_bytes
    from maestro_lessons.notes import read_notes
    rel_src = path.relative_to(corpus_root()).as_posix()
    parsed = corpus.parse(path)
    scores = list(parsed.scores) if hasattr(parsed, "scores") else [parsed]
    if coll in VOICES_AS_TUNES and len(scores) > 1: scores = [joined_voices(scores)]
    rows = []
    for i, score in enumerate(scores, 1):
        pid = slug(rel_src.rsplit(".", 1)[0].replace("/", "-")) + (f"-{i:03d}" if len(scores) > 1 else "")
        data, _, facts = export(score)
        if facts["mismatches"]:
            print(f"{pid}: left out, exported notes differ from the score: {facts['mismatches'][:2]}"); continue
        dest = OUT / "midi" / coll / f"{pid}.mid"
        atomic_write_bytes(dest, data)
        notes = read_notes(dest)
        rows.append(dict(id=pid, composer=coll, collection=coll, tier=tier, title=score_title(score, path.stem),
                         m21_path=rel_src, midi=dest.relative_to(OUT).as_posix(), n_notes=len(notes),
                         duration_s=round(notes.duration, 3), sha256=hashlib.sha256(data).hexdigest()))
    return rows


def main():
    warnings.simplefilter("ignore")
    rows = []
    for tier, colls in TIERS.items():
        for coll in colls:
            for path in sources(coll):
                try: rows += export_piece(path, coll, tier)
                except Exception as e: print(f"{coll}/{path.name}: left out, {type(e).__name__}: {str(e)[:200]}")
                print(f"{tier} {coll} {path.name}: {len(rows)} pieces so far", flush=True)
    with open(OUT / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS); w.writeheader(); w.writerows(rows)
    print(f"{len(rows)} pieces: " + ", ".join(f"{t} {sum(r['tier'] == t for r in rows)}" for t in TIERS))


if __name__ == "__main__":
    main()
