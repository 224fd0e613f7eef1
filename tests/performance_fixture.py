"""A small MAESTRO-style collection made from bundled corpus pieces, rendered as one-track piano performances.

What a MAESTRO file has and a score export has not: velocities that vary, a sustain pedal (CC64) that holds
notes after the key is released, onsets that are not on a grid, a tempo map that changes, one piano track,
`.midi` files under year folders, and a CSV (canonical_composer, canonical_title, split, year, midi_filename,
duration) beside them. Nothing is downloaded: the notes come from the bundled corpus.
"""
from pathlib import Path

import mido
import numpy as np
import pandas as pd

from maestro_lessons.corpus import load_manifest
from maestro_lessons.notes import read_notes

TPB = 480
TEMPI = (500_000, 600_000)          # µs per quarter: 120 bpm, then 100 bpm from the piece's middle
# (composer as MAESTRO spells it, bundled composer, pieces); the last one has too few pieces for a split
COMPOSERS = (("Johann Sebastian Bach", "Bach", 4), ("Giovanni Pierluigi da Palestrina", "Palestrina", 4),
             ("Claudio Monteverdi", "Monteverdi", 4), ("Wolfgang Amadeus Mozart", "Mozart", 2))
SPLITS = ("train", "train", "validation", "test")


def source_pieces(composer: str, n: int) -> pd.DataFrame:
    "`n` pieces of `composer` from the bundled corpus, each of a different work, shortest first (fast to read)."
    m = load_manifest()
    m = m[m.composer == composer].sort_values(["duration_s", "id"]).drop_duplicates("work")
    return m[m.n_notes >= 80].head(n)


def performed(notes, seconds: float, rng) -> pd.DataFrame:
    "The first `seconds` of `notes` as a pianist might play them: jittered onsets, varied velocities, shorter key presses."
    d = notes.to_df()[["pitch", "start", "end"]]
    d = d[d.start < seconds].drop_duplicates(["pitch", "start"]).sort_values(["pitch", "start"]).reset_index(drop=True)
    d["start"] = (d.start + rng.normal(0, 0.012, len(d))).clip(lower=0.01)
    d["end"] = np.minimum(d.start + (d.end - d.start) * 0.55, seconds)         # fingers lift early; the pedal holds
    nxt = d.groupby("pitch").start.shift(-1)                                    # no two notes of one key overlap
    d["end"] = np.minimum(d.end, nxt.fillna(np.inf) - 0.02)
    d = d[d.end - d.start > 0.03].copy()
    phrase = 70 + 20 * np.sin(d.start / 3.0)                                    # a slow swell, plus each key's own
    d["velocity"] = np.clip(np.round(phrase + rng.normal(0, 8, len(d))), 20, 120).astype(int)
    return d.sort_values("start").reset_index(drop=True)


def seconds_to_ticks(t, change: float):
    "Ticks of times `t` (s) under the tempo map: TEMPI[0] until `change` seconds, TEMPI[1] after."
    per_s = [TPB * 1e6 / us for us in TEMPI]
    t = np.asarray(t, float)
    return np.round(np.where(t < change, t * per_s[0], change * per_s[0] + (t - change) * per_s[1])).astype(int)


def performance_midi(d: pd.DataFrame, path: Path, seconds: float) -> None:
    "Write the notes `d` as a type-0 piano file: tempo change at half time, sustain pedal down for most of each 2 s bar."
    change = seconds / 2
    events = [(0, 0, mido.MetaMessage("set_tempo", tempo=TEMPI[0])), (0, 0, mido.Message("program_change", program=0)),
              (seconds_to_ticks(change, change), 0, mido.MetaMessage("set_tempo", tempo=TEMPI[1]))]
    for bar in np.arange(0, seconds, 2.0):                                     # down just after the bar starts, up before its end
        down, up = seconds_to_ticks([bar + 0.1, bar + 1.8], change)
        events += [(down, 1, mido.Message("control_change", control=64, value=100)),
                   (up, 1, mido.Message("control_change", control=64, value=0))]
    on, off = seconds_to_ticks(d.start, change), seconds_to_ticks(d.end, change)
    for p, v, a, b in zip(d.pitch, d.velocity, on, off):
        events += [(a, 2, mido.Message("note_on", note=int(p), velocity=int(v))),
                   (b, 0, mido.Message("note_off", note=int(p), velocity=64))]     # at one tick: offs first
    track = mido.MidiTrack([mido.MetaMessage("track_name", name="Piano", time=0)])
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=int(tick - now))); now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    mf = mido.MidiFile(type=0, ticks_per_beat=TPB); mf.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True); mf.save(path)


def make_collection(root, seconds: float = 16.0, seed: int = 0) -> Path:
    "Write the collection under `root` (year folders of .midi files and maestro.csv); return the CSV's path."
    root, rng, rows = Path(root), np.random.default_rng(seed), []
    for name, composer, n in COMPOSERS:
        for i, piece in enumerate(source_pieces(composer, n).itertuples()):
            d = performed(read_notes(piece.path), seconds, rng)
            year = 2004 + len(rows) % 3
            f = f"{year}/MIDI-Unprocessed_{composer}_{i:02d}_R1_{year}_wav.midi"
            performance_midi(d, root / f, seconds)
            rows.append(dict(canonical_composer=name, canonical_title=f"{piece.title} ({piece.id})",
                             split=SPLITS[i] if n == len(SPLITS) else "train", year=year, midi_filename=f,
                             audio_filename=f.replace(".midi", ".wav"), duration=float(d.end.max())))
    csv = root / "maestro-v3.0.0.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


def mido_notes(path, pedal: bool = True) -> pd.DataFrame:
    "Notes of a one-track file read with mido alone (seconds through its tempo map), pedal-extended if asked."
    t, held, pedal_on, spans, notes = 0.0, {}, None, [], []
    for msg in mido.MidiFile(path):                                            # iteration gives delta times in seconds
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0: held.setdefault(msg.note, []).append((t, msg.velocity))
        elif msg.type in ("note_on", "note_off") and held.get(msg.note):
            start, vel = held[msg.note].pop(0); notes.append((msg.note, start, t, vel))
        elif msg.type == "control_change" and msg.control == 64:
            if msg.value >= 64 and pedal_on is None: pedal_on = t
            elif msg.value < 64 and pedal_on is not None: spans.append((pedal_on, t)); pedal_on = None
    d = pd.DataFrame(notes, columns=["pitch", "start", "end", "velocity"]).sort_values(["pitch", "start"])
    if pedal:
        ends = []
        for pitch, start, end in zip(d.pitch, d.start, d.end):
            up = next((b for a, b in spans if a < end < b), end)               # pressed before the key's release
            later = d.start[(d.pitch == pitch) & (d.start > start)]            # the key struck again ends it
            ends.append(max(end, min(up, later.min() if len(later) else np.inf)))
        d["end"] = ends
    return d.reset_index(drop=True)
