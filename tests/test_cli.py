"""The `maestro` console script as a user runs it."""
import shutil, subprocess, sys
from pathlib import Path
from maestro_lessons.corpus import load_manifest

BIN = Path(sys.executable).parent / "maestro"

def test_report_on_a_folder_lists_skipped_files(tmp_path):
    m = load_manifest()
    (tmp_path / "Bach").mkdir(); (tmp_path / "Haydn").mkdir()
    shutil.copy(m.path[m.composer == "Bach"].iloc[0], tmp_path / "Bach" / "a.mid")
    shutil.copy(m.path[m.composer == "Haydn"].iloc[0], tmp_path / "Haydn" / "b.mid")
    (tmp_path / "Haydn" / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x10\x00")
    r = subprocess.run([BIN, "report", "--folder", tmp_path, "--plot", tmp_path / "r.png"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Files skipped: 1" in r.stdout and "broken.mid" in r.stdout and "truncated" in r.stdout
    assert "Bach" in r.stdout and "Haydn" in r.stdout and (tmp_path / "r.png").stat().st_size > 10_000

def test_report_on_missing_folder_is_a_clear_error(tmp_path):
    r = subprocess.run([BIN, "report", "--folder", tmp_path / "none"], capture_output=True, text=True)
    assert r.returncode == 2 and "not a folder" in r.stderr and "Traceback" not in r.stderr
