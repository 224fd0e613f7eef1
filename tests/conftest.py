import io
import mido
import pytest

def midi_bytes(tracks, type=1, tpb=480) -> bytes:
    "A MIDI file (bytes) with one track per list of mido messages."
    mf = mido.MidiFile(type=type, ticks_per_beat=tpb)
    for msgs in tracks:
        t = mido.MidiTrack(); t.extend(msgs); mf.tracks.append(t)
    buf = io.BytesIO(); mf.save(file=buf)
    return buf.getvalue()

@pytest.fixture
def write_midi(tmp_path):
    "Write MIDI made of mido messages (or raw bytes) to a file and return its path."
    def write(tracks_or_bytes, name="x.mid", **kw):
        data = tracks_or_bytes if isinstance(tracks_or_bytes, (bytes, bytearray)) else midi_bytes(tracks_or_bytes, **kw)
        p = tmp_path / name; p.write_bytes(bytes(data)); return p
    return write
