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
                    "midi", "repeats", "n_notes", "duration_s", "sha256",
                    "n_parts", "voice_tracks", "n_grace", "chord_symbols", "score_polyphony", "score_longest_q", "score_longest_s",
                    "score_longest_where"]


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


def prepared(score):
    """`score` ready to be played: at sounding pitch, repeats played out and volumes realised (music21's own
    `prepareStreamForMidi`), and how the repeats were taken: 'expanded', or 'as written' when music21 cannot
    expand them (badly formed repeats)."""
    from music21.midi.translate import prepareStreamForMidi
    if score.atSoundingPitch is False: score = score.toSoundingPitch()
    try:
        return prepareStreamForMidi(score), "expanded"
    except Exception as first:
        try: return prepareStreamForMidi(drop_shared_time_signatures(score)), "expanded"
        except Exception: pass
        try: return prepareStreamForMidi(strip_repeats(score)), "as written"
        except Exception: raise first from None


# Ticks per quarter note of the written files: music21's own resolution, exact for the tuplets in the corpus.
TPQ = 10080
# A grace note is written without a duration. It is played as a 64th note (1/16 of a quarter, a quick
# acciaccatura) from its written place, over the note it ornaments, which keeps its written onset and duration;
# a run of grace notes before one note is played in turn (the k-th starts k/16 of a quarter later).
GRACE_QL = 0.0625


def _label_parts(names: list[str]) -> list[str]:
    "Part names made unique by numbering repeats ('Violin', 'Violin' -> 'Violin 1', 'Violin 2')."
    from collections import Counter
    total, seen, out = Counter(names), Counter(), []
    for n in names:
        seen[n] += 1
        out.append(f"{n} {seen[n]}" if total[n] > 1 else n)
    return out


def _program(part) -> int:
    "The General MIDI program of a part's instrument (by name when the score gives no number), else 0."
    from music21 import instrument
    inst = part.getInstrument(returnDefault=True)
    if inst.midiProgram is not None: return int(inst.midiProgram)
    for name in (inst.instrumentName, part.partName):
        try: return int(instrument.fromString(name).midiProgram or 0)
        except Exception: pass
    return 0


def score_notes(ready) -> list[dict]:
    """The score's own notes, part by part: ties joined, chords split into notes, grace notes given
    `GRACE_QL` each (a run of them in turn). Each part: label, program, and columns onset/duration (quarter notes, exact fractions
    as floats), pitch, velocity, grace, bar (the measure number each note starts in)."""
    import bisect
    from music21 import harmony, note, stream, volume
    parts = [p for p in ready.parts if any(not isinstance(n, harmony.Harmony) for n in p.recurse().notes)]
    labels = _label_parts([(p.partName or p.getInstrument(returnDefault=True).instrumentName or "Part").strip()
                           for p in parts])
    out = []
    for label, part in zip(labels, parts):
        bars = [(float(m.offset), m.number) for m in part.getElementsByClass(stream.Measure)]
        starts = [b[0] for b in bars]
        flat = part.flatten().stripTies()
        volume.realizeVolume(flat)
        cols = dict(onset=[], duration=[], pitch=[], velocity=[], grace=[], bar=[])
        graces_at: dict[float, int] = {}                 # grace notes (or chords) seen so far at an offset
        symbols = 0
        for el in flat.notes:
            if isinstance(el, harmony.Harmony): symbols += 1; continue    # a chord symbol ("Am", "G7"): not a note
            if isinstance(el, note.Unpitched): continue
            pitches = el.pitches
            grace = el.duration.isGrace or el.duration.quarterLength <= 0
            ql = GRACE_QL if grace else float(el.duration.quarterLength)
            on = float(el.offset)
            if grace:
                k = graces_at.get(on, 0); graces_at[on] = k + 1
                on += k * GRACE_QL
            vel = int(round((el.volume.cachedRealized or 0.5) * 127))
            i = bisect.bisect_right(starts, on) - 1
            for p in pitches:
                cols["onset"].append(on); cols["duration"].append(ql); cols["pitch"].append(p.midi)
                cols["velocity"].append(max(1, min(127, vel))); cols["grace"].append(grace)
                cols["bar"].append(bars[i][1] if i >= 0 else 0)
        out.append(dict(label=label, program=_program(part), chord_symbols=symbols, **cols))
    return out


def tempo_marks(ready) -> list[tuple[float, float]]:
    "(onset in quarter notes, quarter notes per minute) of every tempo change; 120 where the score gives none."
    marks = []
    for start, end, mm in ready.metronomeMarkBoundaries():
        bpm = float(mm.getQuarterBPM() or 120)
        if end > start and (not marks or marks[-1][1] != bpm): marks.append((float(start), bpm))
    return marks or [(0.0, 120.0)]


def time_signatures(ready) -> list[tuple[float, int, int]]:
    "(onset in quarter notes, numerator, denominator) of every time-signature change, as written."
    from music21 import meter
    out = []
    for ts in ready.parts[0].flatten().getElementsByClass(meter.TimeSignature):
        sig = (float(ts.offset), int(ts.numerator), int(ts.denominator))
        if not out or out[-1][1:] != sig[1:]: out.append(sig)
    return out


def voice_lanes(onset: list[int], end: list[int], pitch: list[int]) -> list[int]:
    """For the notes of one part (in ticks), the lane each goes on so that no lane sounds one pitch twice at
    once: lane 0 unless the same pitch is already sounding there (a unison of two voices, a double stop)."""
    busy: dict[tuple[int, int], int] = {}     # (lane, pitch) -> tick the lane's note of that pitch ends
    lanes = [0] * len(onset)
    for i in sorted(range(len(onset)), key=lambda i: (onset[i], pitch[i])):
        k = 0
        while busy.get((k, pitch[i]), -1) > onset[i]: k += 1
        busy[(k, pitch[i])] = end[i]; lanes[i] = k
    return lanes


def write_midi(parts: list[dict], tempos, signatures) -> bytes:
    """A type-1 MIDI file of `parts` (from `score_notes`): a conductor track (tempo, time signatures), then a
    track per part named by its label; a part that sounds one pitch twice at once gets a track per extra
    voice, named '<label> (voice k)', so no note is shortened. Every track has its own channel while
    there are channels left (9, percussion, skipped)."""
    import io, mido
    mf = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    tick = lambda q: int(round(q * TPQ))
    conductor = [(tick(q), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0)) for q, bpm in tempos]
    conductor += [(tick(q), 0, mido.MetaMessage("time_signature", numerator=n, denominator=d, time=0))
                  for q, n, d in signatures if d & (d - 1) == 0]     # MIDI cannot write a 3/6 or 6/12 meter
    tracks = [("conductor", None, conductor)]
    for part in parts:
        on = [tick(q) for q in part["onset"]]
        end = [tick(q + d) for q, d in zip(part["onset"], part["duration"])]
        lanes = voice_lanes(on, end, part["pitch"])
        for k in range(max(lanes, default=0) + 1):
            name = part["label"] if k == 0 else f"{part['label']} (voice {k + 1})"
            ev = []
            for i in (i for i, l in enumerate(lanes) if l == k):
                ev.append((on[i], 1, ("note_on", part["pitch"][i], part["velocity"][i])))
                ev.append((end[i], 0, ("note_off", part["pitch"][i], 0)))   # at one tick: offs before ons
            tracks.append((name, part["program"], ev))
    channels = [c for c in range(16) if c != 9]
    for n, (name, program, ev) in enumerate(tracks):
        tr = mido.MidiTrack()
        tr.append(mido.MetaMessage("track_name", name=name, time=0))
        ch = channels[(n - 1) % len(channels)]
        if program is not None: tr.append(mido.Message("program_change", channel=ch, program=program, time=0))
        now = 0
        for t, _, m in sorted(ev, key=lambda e: (e[0], e[1])):
            msg = m if isinstance(m, mido.MetaMessage) else mido.Message(m[0], channel=ch, note=m[1], velocity=m[2])
            tr.append(msg.copy(time=t - now)); now = t
        tr.append(mido.MetaMessage("end_of_track", time=0))
        mf.tracks.append(tr)
    buf = io.BytesIO(); mf.save(file=buf)
    return buf.getvalue()


def check_against_score(data: bytes, parts: list[dict], tempos) -> list[str]:
    """Every note of the MIDI file `data`, read back with symusic, against the score's own notes: per part
    (the part's track and its voice tracks), the same (pitch, onset, duration) in quarter notes to one tick,
    and the same tempo map. An empty list when all match, else what differs."""
    import symusic
    from collections import Counter
    sc = symusic.Score.from_midi(data)
    tpq, problems = sc.ticks_per_quarter, []
    read = {}
    for tr in sc.tracks:
        label = re.sub(r" \(voice \d+\)$", "", tr.name)
        read.setdefault(label, []).extend((n.pitch, n.time / tpq, n.duration / tpq) for n in tr.notes)
    tick = lambda q: round(q * TPQ)     # the score's quarter-note times on the file's grid (1 tick = 1/10080)
    for part in parts:
        want = Counter((p, tick(o), tick(o + d)) for p, o, d in zip(part["pitch"], part["onset"], part["duration"]))
        got = Counter((p, tick(o), tick(o + d)) for p, o, d in read.pop(part["label"], []))
        if want != got:
            missing, extra = want - got, got - want
            problems.append(f"{part['label']}: {sum(missing.values())} score notes missing, "
                            f"{sum(extra.values())} notes not in the score (e.g. {next(iter(extra or missing))})")
    for label, notes in read.items():
        if notes: problems.append(f"track {label!r}: {len(notes)} notes of no part")
    got_tempos = [(round(t.time / tpq, 3), round(t.qpm, 3)) for t in sc.tempos]
    want_tempos = [(round(q, 3), round(b, 3)) for q, b in tempos]
    if got_tempos != want_tempos: problems.append(f"tempo map {got_tempos[:3]}… differs from the score's {want_tempos[:3]}…")
    return problems


def score_facts(parts: list[dict], tempos) -> dict:
    """What the score itself writes, to compare the file with: the most notes sounding at once, and the
    longest note (quarter notes, seconds at the score's tempo, part and bar)."""
    import numpy as np
    on = np.concatenate([np.asarray(p["onset"]) for p in parts])
    end = on + np.concatenate([np.asarray(p["duration"]) for p in parts])
    # on the file's grid of ticks: in floats a triplet's end (1.3333333333333333) can fall before the next
    # onset (1.3333333333333335) and count as two notes at once
    ticks = lambda q: np.round(q * TPQ).astype(np.int64)
    ev = sorted([(t, 1) for t in ticks(on)] + [(t, -1) for t in ticks(end)])
    poly = int(max(np.cumsum([d for _, d in ev]))) if ev else 0
    longest = max(((d, p["label"], b) for p in parts for d, b in zip(p["duration"], p["bar"])), default=(0, "", 0))
    q = np.array([t for t, _ in tempos]); spq = 60 / np.array([b for _, b in tempos])   # seconds per quarter
    def seconds(x):   # quarter notes -> seconds through the tempo map
        i = np.searchsorted(q, x, side="right") - 1
        before = np.r_[0, np.cumsum(np.diff(q) * spq[:-1])]
        return before[i] + (x - q[i]) * spq[i]
    j = [d for p in parts for d in p["duration"]].index(longest[0]) if parts else 0
    s = float(seconds(on[j] + longest[0]) - seconds(on[j])) if parts else 0.0
    return dict(score_polyphony=poly, score_longest_q=float(longest[0]), score_longest_s=round(s, 3),
                score_longest_where=f"{longest[1]}, bar {longest[2]}",
                n_grace=int(sum(sum(p["grace"]) for p in parts)), n_parts=len(parts),
                chord_symbols=int(sum(p["chord_symbols"] for p in parts)))


def export(score) -> tuple[bytes, str, dict]:
    """MIDI bytes of a music21 score, written from the score's own note list and checked against it note by
    note; how its repeats were taken; and what the score writes (`score_facts`) with the check's verdict."""
    ready, repeats = prepared(score)
    parts, tempos = score_notes(ready), tempo_marks(ready)
    data = write_midi(parts, tempos, time_signatures(ready))
    facts = score_facts(parts, tempos)
    facts["voice_tracks"] = len(symusic_track_names(data)) - facts["n_parts"]
    facts["mismatches"] = check_against_score(data, parts, tempos)
    return data, repeats, facts


def symusic_track_names(data: bytes) -> list[str]:
    import symusic
    return [t.name for t in symusic.Score.from_midi(data).tracks if len(t.notes)]


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
            data, repeats, facts = export(score)
        except Exception as e:
            failed.append(dict(id=pid, error=f"{type(e).__name__}: {e}".strip()[:300])); continue
        if facts["mismatches"]:                # never reached so far: kept as the build's guarantee
            failed.append(dict(id=pid, error="exported notes differ from the score: " + "; ".join(facts["mismatches"])[:300]))
            continue
        atomic_write_bytes(OUT / rel, data)
        pieces.append(dict(id=pid, composer=composer, collection=coll,
                           title=score_title(score, Path(stem).name), work=work,
                           m21_path=stem, midi=rel.as_posix(), repeats=repeats,
                           **{k: v for k, v in facts.items() if k != "mismatches"}))
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
    print(tally(rows, failures).to_string())
    return 0


def tally(rows: list[dict], failures: list[dict]):
    """Per collection: pieces kept, how many of them were checked note by note against their score (a piece
    that differs is never kept), pieces refused because they differ, and sources music21 could not convert
    or that were left out for another reason."""
    import pandas as pd
    coll = lambda src: src.split("/")[0]
    t = pd.DataFrame(dict(collection=[r["collection"] for r in rows])).value_counts().rename("kept").to_frame()
    f = pd.DataFrame(dict(collection=[coll(x["source"]) for x in failures],
                          differs=[x["reason"].startswith("exported notes differ") for x in failures]))
    checked = pd.Series([r["collection"] for r in rows if r.get("n_parts") not in (None, "")], dtype=object)
    t["checked against the score"] = checked.value_counts().reindex(t.index.get_level_values(0)).fillna(0).astype(int).values
    t["refused: differs from score"] = f[f.differs].value_counts("collection").reindex(t.index.get_level_values(0)).fillna(0).astype(int).values
    t["not converted / left out"] = f[~f.differs].value_counts("collection").reindex(t.index.get_level_values(0)).fillna(0).astype(int).values
    return t


if __name__ == "__main__":
    sys.exit(main())
