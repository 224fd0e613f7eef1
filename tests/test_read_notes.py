"""read_notes on odd and bad input crafted here with mido or raw bytes: exact times, and one MidiError for every failure."""
import struct
from pathlib import Path

import mido
import numpy as np
import pytest

from maestro_lessons.notes import MidiError, read_notes
from conftest import midi_bytes

M, MM = mido.Message, mido.MetaMessage
ON = lambda p, t=0, v=80, ch=0: M("note_on", note=p, velocity=v, time=t, channel=ch)
OFF = lambda p, t=0, ch=0: M("note_off", note=p, velocity=0, time=t, channel=ch)
ONE_NOTE = [[ON(60), OFF(60, 480)]]

def rows(n):
    return [(int(p), round(float(s), 6), round(float(e), 6), int(v)) for p, s, e, v in zip(n.pitch, n.start, n.end, n.velocity)]

# --- files that cannot be read: always MidiError, naming the file and the problem -----------------

def test_missing_file(tmp_path):
    with pytest.raises(MidiError, match=r"nope\.mid: no such file"): read_notes(tmp_path / "nope.mid")

def test_directory(tmp_path):
    d = tmp_path / "folder.mid"; d.mkdir()
    with pytest.raises(MidiError, match=r"folder\.mid: is a directory"): read_notes(d)

def test_permission_denied(write_midi, monkeypatch):
    p = write_midi(ONE_NOTE)
    import os
    def denied(*a, **k): raise PermissionError(13, "Permission denied")
    # tests may run as root, where chmod 000 does not stop a read: make os.open refuse instead
    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(MidiError, match="permission denied"): read_notes(p)

def test_zero_bytes(write_midi):
    with pytest.raises(MidiError, match=r"x\.mid: empty file \(0 bytes\)"): read_notes(write_midi(b""))

def test_text_named_mid(write_midi):
    p = write_midi(b"<html><body>404 Not Found</body></html>\n", name="song.mid")
    with pytest.raises(MidiError, match=r"song\.mid: not a MIDI file"): read_notes(p)

@pytest.mark.parametrize("cut", [4, 10, 13, 20, -8, -1])
def test_truncated(write_midi, cut):
    data = midi_bytes(ONE_NOTE)
    with pytest.raises(MidiError, match="truncated"): read_notes(write_midi(data[:cut]))

def test_garbage_after_valid_header(write_midi):
    data = midi_bytes(ONE_NOTE)
    with pytest.raises(MidiError, match="corrupt data at byte 14"):
        read_notes(write_midi(data[:14] + b"\x00\x01garbage garbage garbage"))

def test_corrupt_events_inside_a_track(write_midi):
    data = bytearray(midi_bytes(ONE_NOTE))
    data[22:26] = b"\xf4\xf4\xf4\xf4"                  # undefined status bytes where the events are
    with pytest.raises(MidiError, match="corrupt MIDI data"): read_notes(write_midi(data))

def test_header_only(write_midi):
    with pytest.raises(MidiError, match="no tracks"): read_notes(write_midi(midi_bytes([])[:14]))

def test_bad_format_number(write_midi):
    data = bytearray(midi_bytes(ONE_NOTE)); data[8:10] = b"\x00\x07"
    with pytest.raises(MidiError, match="format 7"): read_notes(write_midi(data))

def test_meta_only(write_midi):
    p = write_midi([[MM("track_name", name="empty"), MM("set_tempo", tempo=400000)]])
    with pytest.raises(MidiError, match="no pitched notes"): read_notes(p)

def test_drum_only(write_midi):
    p = write_midi([[ON(36, ch=9), OFF(36, 240, ch=9), ON(38, ch=9), OFF(38, 240, ch=9)]])
    with pytest.raises(MidiError, match=r"only drum notes \(2\); pass drums=True"): read_notes(p)
    n = read_notes(p, drums=True)
    assert n.is_drum.all() and n.pitch.tolist() == [36, 38]

def test_drums_left_out_of_a_mixed_file(write_midi):
    p = write_midi([[ON(60), OFF(60, 480)], [ON(36, ch=9), OFF(36, 240, ch=9)]])
    n = read_notes(p)
    assert n.pitch.tolist() == [60] and n.meta["drum_notes_dropped"] == 1

def test_bad_unit(write_midi):
    with pytest.raises(ValueError, match="unit must be"): read_notes(write_midi(ONE_NOTE), unit="tick")

# --- odd but valid input: exact results ------------------------------------------------------------

def test_velocity_zero_note_on_ends_a_note(write_midi):
    p = write_midi([[ON(60), ON(60, 480, v=0), ON(62), ON(62, 240, v=0)]])
    assert rows(read_notes(p)) == [(60, 0, 0.5, 80), (62, 0.5, 0.75, 80)]

def test_note_off_without_note_on_is_ignored(write_midi):
    p = write_midi([[OFF(62), OFF(64, 100), ON(60, 380), OFF(60, 480), OFF(60, 480)]])
    assert rows(read_notes(p)) == [(60, 0.5, 1.0, 80)]

def test_overlapping_same_pitch_pairs_first_in_first_out(write_midi):
    p = write_midi([[ON(60, v=80), ON(60, 240, v=90), OFF(60, 240), OFF(60, 240)]])
    assert rows(read_notes(p)) == [(60, 0, 0.5, 80), (60, 0.25, 0.75, 90)]

def test_tempo_changes_exact_seconds(write_midi):
    # 120 bpm for one beat, 60 bpm for one beat, 240 bpm after: beats at 0, .5, 1.5, 1.75, 2.0 s
    p = write_midi([[MM("set_tempo", tempo=500_000), ON(60), MM("set_tempo", tempo=1_000_000, time=480),
                     OFF(60, 480), ON(62), MM("set_tempo", tempo=250_000), OFF(62, 480), ON(64), OFF(64, 480)]])
    assert rows(read_notes(p)) == [(60, 0, 1.5, 80), (62, 1.5, 1.75, 80), (64, 1.75, 2.0, 80)]
    assert rows(read_notes(p, unit="beat")) == [(60, 0, 2, 80), (62, 2, 3, 80), (64, 3, 4, 80)]

def test_tempo_in_a_different_track_than_the_notes(write_midi):
    p = write_midi([[MM("set_tempo", tempo=1_000_000)], [ON(60), OFF(60, 960)]])
    assert rows(read_notes(p)) == [(60, 0, 2.0, 80)]

def test_no_tempo_means_120_bpm(write_midi):
    assert rows(read_notes(write_midi(ONE_NOTE, tpb=96))) == [(60, 0, 2.5, 80)]   # 480 ticks = 5 beats of 0.5 s

def test_sustain_pedal_exact_note_ends(write_midi):
    cc = lambda v, t: M("control_change", control=64, value=v, time=t)
    # ticks: C on 0, pedal down 100, C off 200 (held), E on 240, E off 300 (held), C re-struck 360,
    # pedal up 480 (value 30 < 64), C off 600, G on 600, G off 700 (pedal up: not held)
    p = write_midi([[ON(60), cc(100, 100), OFF(60, 100), ON(64, 40), OFF(64, 60), ON(60, 60),
                     cc(30, 120), OFF(60, 120), ON(67), OFF(67, 100)]])
    s = 0.5 / 480                                        # seconds per tick at 120 bpm
    got = {(int(p_), round(st / s)): round(e / s) for p_, st, e in zip(*(lambda n: (n.pitch, n.start, n.end))(read_notes(p)))}
    assert got == {(60, 0): 360, (64, 240): 480, (60, 360): 600, (67, 600): 700}
    nopedal = read_notes(p, pedal=False)
    assert sorted(np.round(nopedal.end / s).astype(int).tolist()) == [200, 300, 600, 700]

def test_pedal_threshold_is_64(write_midi):
    cc = lambda v, t: M("control_change", control=64, value=v, time=t)
    p = write_midi([[cc(63, 0), ON(60), OFF(60, 240), cc(64, 0), ON(62), OFF(62, 240), cc(0, 240)]])
    n = read_notes(p, unit="beat")
    # 63 is "up", 64 is "down"; the first C is released on the very tick the pedal goes down:
    # the pedal was not yet down, so the note is not held
    assert n.end.tolist() == [0.5, 1.5]

def test_very_large_tick_values(write_midi):
    big = 2**27                                          # the largest delta a MIDI variable-length number holds is 2**28-1
    p = write_midi([[ON(60), OFF(60, big), ON(61, big), OFF(61, 480)]])
    n = read_notes(p)
    assert n.start.tolist() == pytest.approx([0, 2 * big / 960], abs=1e-6)
    assert n.end.tolist() == pytest.approx([big / 960, 2 * big / 960 + 0.5], abs=1e-6)

def test_running_status_raw_bytes(write_midi):
    # 90 3C 40 | 00 3E 40 (running status) | 83 60 3C 00 | 00 3E 00 : two notes, off by velocity-0 note-ons
    trk = bytes([0x00, 0x90, 0x3C, 0x40, 0x00, 0x3E, 0x40, 0x83, 0x60, 0x3C, 0x00, 0x00, 0x3E, 0x00, 0x00, 0xFF, 0x2F, 0x00])
    raw = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(trk)) + trk
    assert rows(read_notes(write_midi(raw))) == [(60, 0, 0.5, 64), (62, 0, 0.5, 64)]

def test_type0_type1_same_notes(write_midi):
    msgs = [ON(60), ON(64, ch=1), OFF(60, 480), OFF(64, 0, ch=1)]
    t0 = read_notes(write_midi([msgs], type=0, name="t0.mid"))
    t1 = read_notes(write_midi([[ON(60), OFF(60, 480)], [ON(64, ch=1), OFF(64, 480, ch=1)]], type=1, name="t1.mid"))
    assert rows(t0) == rows(t1) == [(60, 0, 0.5, 80), (64, 0, 0.5, 80)]

def test_type2_patterns_play_one_after_another(write_midi):
    p = write_midi([[ON(60), OFF(60, 480)], [ON(62), OFF(62, 240), MM("end_of_track", time=240)], [ON(64), OFF(64, 480)]], type=2)
    assert rows(read_notes(p)) == [(60, 0, 0.5, 80), (62, 0.5, 0.75, 80), (64, 1.0, 1.5, 80)]

def test_smpte_division(write_midi):
    # 25 frames/s x 40 ticks/frame = 1000 ticks per second; tempo events do not apply to SMPTE time
    data = bytearray(midi_bytes([[MM("set_tempo", tempo=2_000_000), ON(60), OFF(60, 1500), ON(62, 500), OFF(62, 250)]]))
    data[12:14] = struct.pack(">bB", -25, 40)
    assert rows(read_notes(write_midi(data))) == [(60, 0, 1.5, 80), (62, 2.0, 2.25, 80)]

def test_smpte_29_97_drop_frame(write_midi):
    data = bytearray(midi_bytes([[ON(60), OFF(60, 2997)]]))   # 2997 ticks at 29.97 fps x 100 ticks/frame = 1 s
    data[12:14] = struct.pack(">bB", -29, 100)
    n = read_notes(write_midi(data))
    assert abs(n.end[0] - 1.0) < 1e-5

def test_rmid_container(write_midi):
    data = midi_bytes(ONE_NOTE)
    riff = b"RIFF" + struct.pack("<I", len(data) + 12) + b"RMID" + b"data" + struct.pack("<I", len(data)) + data
    assert rows(read_notes(write_midi(riff, name="x.rmi"))) == [(60, 0, 0.5, 80)]

def test_programs_and_tracks_kept(write_midi):
    p = write_midi([[M("program_change", program=40), ON(76), OFF(76, 480)],
                    [M("program_change", program=42, channel=1), ON(48, ch=1), OFF(48, 480, ch=1)]])
    n = read_notes(p)
    assert n.pitch.tolist() == [48, 76] and n.program.tolist() == [42, 40] and len(set(n.track.tolist())) == 2

def test_sorted_by_onset_then_pitch(write_midi):
    p = write_midi([[ON(67, 0), ON(60, 0), ON(64, 0), OFF(67, 100), OFF(60, 0), OFF(64, 0), ON(59, 10), OFF(59, 10)]])
    n = read_notes(p)
    assert n.pitch.tolist() == [60, 64, 67, 59] and np.all(np.diff(n.start) >= 0)


def test_note_checks_by_hand(write_midi):
    "A held note begun early and ringing on after the last onset, a long final chord, a restruck pitch, a zero-length note."
    import mido
    from maestro_lessons.notes import note_checks, note_problems
    on = lambda t, p: mido.Message("note_on", note=p, velocity=80, time=t)
    off = lambda t, p: mido.Message("note_off", note=p, velocity=0, time=t)
    tpb = 480
    # one track: C held 0-60 beats (stuck), E at 0 and at 2, a zero-length C5 at 3, a final chord G+B at 20 for 16 beats
    msgs = [on(0, 60), on(0, 64), off(tpb, 64), on(tpb, 64), off(tpb, 64), on(0, 72), off(0, 72),
            on(17 * tpb, 67), on(0, 71), off(16 * tpb, 67), off(0, 71), off(24 * tpb, 60)]
    c = note_checks(write_midi([msgs], tpb=tpb))
    assert c["notes"] == 6 and c["longest_beats"] == 60 and c["polyphony"] == 3
    assert c["past_end"] == 1                       # the C rings 24 beats after the final chord ends; the chord is fine
    assert c["zero_length"] == 1 and c["overlaps"] == 0
    assert "1 notes past the end" in note_problems(c) and "1 zero-length notes" in note_problems(c)
