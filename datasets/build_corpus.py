#!/usr/bin/env python
"""Re-create the bundled corpus from the music21 corpus (installed with music21).

    python datasets/build_corpus.py            # build what is missing, then write the manifest
    python datasets/build_corpus.py --jobs 4   # more worker processes
    python datasets/build_corpus.py --only bach --limit 10   # a quick partial run

Exporting through music21 is slow (a string-quartet movement takes seconds to
minutes), which is why the output is committed. The build is

- parallel: one task per music21 source file, spread over worker processes;
- resumable: each finished source leaves a small JSON record under `.build/`;
  a rerun skips those and converts only what is missing;
- atomic: every MIDI file and every record is written to a temporary name and
  renamed, so an interrupted build never leaves half a file behind;
- honest: a source that fails to convert is listed, with the reason, in
  `failures.csv`; nothing is dropped silently.
"""
from __future__ import annotations

import argparse, csv, hashlib, json, os, re, sys, tempfile, traceback, warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "music21"
BUILD = OUT / ".build"

# music21 corpus folder -> (composer label, file suffixes to take)
COLLECTIONS = {
    "bach": ("Bach", (".mxl", ".xml", ".krn")),
    "palestrina": ("Palestrina", (".krn",)),
    "monteverdi": ("Monteverdi", (".mxl",)),
    "beethoven": ("Beethoven", (".mxl", ".krn")),
    "mozart": ("Mozart", (".mxl",)),
    "haydn": ("Haydn", (".mxl",)),
    "essenFolksong": ("Traditional", (".abc",)),
    "ryansMammoth": ("Traditional", (".abc",)),
    "oneills1850": ("Traditional", (".abc",)),
}
PREFERENCE = (".mxl", ".xml", ".musicxml", ".krn", ".abc")  # when one work exists in two formats
MANIFEST_COLUMNS = ["id", "composer", "collection", "title", "work", "m21_path",
                    "midi", "repeats", "n_notes", "duration_s", "sha256"]


def slug(text: str) -> str:
    "A lowercase file-system-safe name."
    return re.sub(r"[^a-z0-9.-]+", "_", text.lower()).strip("_.-")


def corpus_root() -> Path:
    import music21
    return Path(music21.__file__).parent / "corpus"


def list_sources(only=None) -> list[str]:
    "music21 corpus paths (relative, with suffix) to convert, one per work, in a stable order."
    root = corpus_root()
    chosen = {}
    for coll, (_, suffixes) in COLLECTIONS.items():
        if only and coll not in only: continue
        for p in sorted((root / coll).rglob("*")):
            if p.suffix.lower() not in suffixes or p.stem.endswith("_old"): continue   # superseded editions
            rel = p.relative_to(root).as_posix()
            key = rel.rsplit(".", 1)[0]
            old = chosen.get(key)
            if old is None or PREFERENCE.index(p.suffix.lower()) < PREFERENCE.index(Path(old).suffix.lower()):
                chosen[key] = rel
    return sorted(chosen.values())


def record_path(src: str) -> Path:
    return BUILD / (slug(src) + ".json")


def atomic_write_bytes(path: Path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f: f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp): os.unlink(tmp)
        raise


def score_title(score, fallback: str) -> str:
    md = score.metadata
    for attr in ("title", "movementName"):
        t = getattr(md, attr, None) if md is not None else None
        t = re.sub(r"\.(mxl|xml|musicxml|krn|abc)$", "", str(t or "").strip())
        if t: return t
    return fallback


def strip_repeats(score):
    "`score` without repeat barlines, voltas and repeat expressions (in place): played as written."
    from music21 import bar, repeat, spanner, stream
    for m in score.recurse().getElementsByClass(stream.Measure):
        for side in ("leftBarline", "rightBarline"):
            if isinstance(getattr(m, side), bar.Repeat): setattr(m, side, bar.Barline("regular"))
    for cls in (repeat.RepeatExpression, spanner.RepeatBracket):
        for el in list(score.recurse().getElementsByClass(cls)):
            if el.activeSite is not None: el.activeSite.remove(el)
    return score


def drop_shared_time_signatures(score):
    "`score` with each TimeSignature object kept in one place only (ABC imports can share one between measures)."
    from music21 import meter
    seen = set()
    for ts in list(score.recurse().getElementsByClass(meter.TimeSignature)):
        if id(ts) in seen and ts.activeSite is not None: ts.activeSite.remove(ts)
        seen.add(id(ts))
    return score


def midi_bytes(score) -> tuple[bytes, str]:
    """MIDI bytes of a music21 score with its repeats played out, as music21 does, and how: 'expanded',
    or 'as written' when music21 cannot expand them (badly formed repeats)."""
    from music21.midi.translate import music21ObjectToMidiFile
    try:
        return music21ObjectToMidiFile(score).writestr(), "expanded"
    except Exception as first:
        try: return music21ObjectToMidiFile(drop_shared_time_signatures(score)).writestr(), "expanded"
        except Exception: pass
        try: return music21ObjectToMidiFile(strip_repeats(score)).writestr(), "as written"
        except Exception: raise first from None


# A folk tune lasts a few minutes at most; a few ABC tunes come out of music21's repeat expansion
# hours long (a runaway of D.C./D.S. marks). They are left out and listed in failures.csv.
MAX_TUNE_SECONDS = 600


def convert_source(src: str) -> dict:
    "Convert one music21 corpus file (a score or an opus of tunes) to MIDI files; return its record."
    warnings.simplefilter("ignore")
    from music21 import corpus
    coll = src.split("/")[0]
    composer = COLLECTIONS[coll][0]
    stem = src.rsplit(".", 1)[0]
    parsed = corpus.parse(src, forceSource=False)
    scores = list(parsed.scores) if hasattr(parsed, "scores") else [parsed]
    # a multi-movement work lives in its own folder (beethoven/opus18no1/movement1)
    work = stem.rsplit("/", 1)[0] if stem.count("/") >= 2 else stem
    pieces, failed = [], []
    for i, score in enumerate(scores, 1):
        pid = slug(stem.replace("/", "-")) + (f"-{i:03d}" if len(scores) > 1 else "")
        rel = Path("midi") / coll / f"{pid}.mid"
        try:                                   # one tune of an opus can fail without losing the others
            data, repeats = midi_bytes(score)
        except Exception as e:
            failed.append(dict(id=pid, error=f"{type(e).__name__}: {e}".strip()[:300])); continue
        atomic_write_bytes(OUT / rel, data)
        pieces.append(dict(id=pid, composer=composer, collection=coll,
                           title=score_title(score, Path(stem).name), work=work,
                           m21_path=stem, midi=rel.as_posix(), repeats=repeats))
    return dict(source=src, pieces=pieces, failed=failed, n_scores=len(scores))


def _run(src: str) -> dict:
    try:
        rec = convert_source(src)
    except Exception as e:  # recorded and listed, never dropped silently
        rec = dict(source=src, error=f"{type(e).__name__}: {e}".strip()[:500],
                   trace=traceback.format_exc(limit=3)[-1000:])
    atomic_write_bytes(record_path(src), json.dumps(rec).encode())
    return rec


def midi_facts(path: Path) -> dict:
    "Number of notes and duration in seconds as the course's `read_notes` sees them, and the file's sha256."
    from maestro_lessons.notes import read_notes, MidiError
    try: notes = read_notes(path)
    except MidiError: return dict(n_notes=0, duration_s=0.0, sha256="")
    return dict(n_notes=len(notes), duration_s=round(notes.duration, 6),
                sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def humdrum_field(src: str, key: str) -> str | None:
    "A `!!!KEY:` reference record of a Humdrum (.krn) source, e.g. OPR, the work a movement belongs to."
    if not src.endswith(".krn"): return None
    for line in (corpus_root() / src).read_text(errors="replace").splitlines():
        if line.startswith(f"!!!{key}:"): return line.split(":", 1)[1].strip() or None
    return None


def refine(piece: dict, src: str, n_scores: int) -> dict:
    """The work a piece belongs to, so that splits can keep a work's pieces together:
    a Palestrina movement belongs to its mass; folk tunes from one opus file are separate
    works, joined only when they share a title (variants of one song)."""
    piece = dict(piece, m21_path=src if n_scores == 1 else f"{src}#{int(piece['id'].rsplit('-', 1)[1])}")
    mass = humdrum_field(src, "OPR")
    if mass:
        piece["work"] = f"{piece['collection']}/{slug(mass)}"
        piece["title"] = f"{piece['title']} ({mass})"
    elif n_scores > 1:
        piece["work"] = f"{piece['collection']}/{slug(piece['title'])}"
    return piece


def write_manifest(sources: list[str], prune: bool = False):
    """Collect the records of `sources` into manifest.csv and failures.csv (atomically);
    with `prune`, delete MIDI files that no manifest row refers to (left by an earlier build)."""
    rows, failures = [], []
    for src in sources:
        rp = record_path(src)
        if not rp.exists(): failures.append(dict(source=src, reason="not built yet")); continue
        rec = json.loads(rp.read_text())
        if "error" in rec: failures.append(dict(source=src, reason=rec["error"])); continue
        for bad in rec.get("failed", []):
            failures.append(dict(source=f"{src} ({bad['id']})", reason=bad["error"]))
        for piece in rec["pieces"]:
            piece = refine(piece, src, rec.get("n_scores", len(rec["pieces"])))
            facts = midi_facts(OUT / piece["midi"])
            if piece["composer"] == "Traditional" and facts["duration_s"] > MAX_TUNE_SECONDS:
                failures.append(dict(source=f"{src} ({piece['id']})", reason=f"repeat expansion ran away: "
                                     f"{facts['duration_s']:.0f} s of music for a folk tune (limit {MAX_TUNE_SECONDS} s)"))
                (OUT / piece["midi"]).unlink(missing_ok=True); continue
            if facts["n_notes"] == 0:
                failures.append(dict(source=f"{src} ({piece['id']})", reason="no notes in the exported MIDI"))
                (OUT / piece["midi"]).unlink(missing_ok=True); continue
            rows.append({"repeats": "expanded", **piece, **facts})   # records older than the column: music21 expanded them
    rows.sort(key=lambda r: r["id"])
    if prune:
        keep = {r["midi"] for r in rows}
        stale = [p for p in (OUT / "midi").rglob("*.mid") if p.relative_to(OUT).as_posix() not in keep]
        for p in stale: p.unlink()
        if stale: print(f"removed {len(stale)} MIDI file(s) no longer in the corpus")
    for name, cols, data in (("manifest.csv", MANIFEST_COLUMNS, rows),
                             ("failures.csv", ["source", "reason"], failures)):
        import io
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader(); w.writerows(data)
        atomic_write_bytes(OUT / name, buf.getvalue().encode())
    return rows, failures


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", nargs="*", help="music21 collections to build (default: all)")
    ap.add_argument("--limit", type=int, help="at most this many new sources (for a quick try)")
    ap.add_argument("--retry-failed", action="store_true", help="convert again the sources that failed before")
    ap.add_argument("--redo", nargs="*", default=[], help="convert these music21 sources again (e.g. after a fix)")
    args = ap.parse_args(argv)
    from tqdm.auto import tqdm
    sources = list_sources(args.only)
    todo = []
    for s in sources:
        rp = record_path(s)
        if not rp.exists() or s in args.redo: todo.append(s); continue
        rec = json.loads(rp.read_text())
        if args.retry_failed and ("error" in rec or rec.get("failed")): todo.append(s)
    if args.limit: todo = todo[:args.limit]
    print(f"{len(sources)} sources, {len(sources) - len(todo)} already built, {len(todo)} to convert", flush=True)
    # slow sources (quartets) first, so the pool is not left waiting on them at the end
    todo.sort(key=lambda s: -(corpus_root() / s).stat().st_size)
    with ProcessPoolExecutor(args.jobs) as pool:
        futs = [pool.submit(_run, s) for s in todo]
        bar = tqdm(as_completed(futs), total=len(futs), unit="file", desc="music21 → MIDI")
        for f in bar:
            rec = f.result()
            if "error" in rec: bar.write(f"failed: {rec['source']}: {rec['error']}")
    rows, failures = write_manifest(sources, prune=not args.only and not args.limit)
    print(f"manifest: {len(rows)} pieces; failures: {len(failures)} (see {OUT / 'failures.csv'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
