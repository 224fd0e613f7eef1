"""Bad input never loses work: a corpus build over broken files, caches killed mid-write, training resumed after a crash, a fuzzed MIDI reader."""
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest

from maestro_lessons.corpus import load_manifest, scan_folder
from maestro_lessons.encodings import PerformanceEncoding
from maestro_lessons.notes import MidiError, read_corpus_stats, read_notes
from maestro_lessons.sequences import TokenCache, token_cache

HERE = Path(__file__).resolve()
ENV = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(HERE.parent.parent)}

@pytest.fixture(scope="module")
def manifest():
    return load_manifest()

def run_child(*args, timeout=600, expect_kill=False):
    "Run this file as a script with `args`; return the CompletedProcess (SIGKILLed children return -9)."
    r = subprocess.run([sys.executable, str(HERE), *map(str, args)], env=ENV, capture_output=True, text=True, timeout=timeout)
    if expect_kill: assert r.returncode == -signal.SIGKILL, f"child was not killed (rc {r.returncode}):\n{r.stderr[-3000:]}"
    else: assert r.returncode == 0, f"child failed (rc {r.returncode}):\n{r.stderr[-3000:]}"
    return r

# --- a corpus build over a folder of bad files ------------------------------------------------------

def bad_folder(root: Path, manifest) -> tuple[dict, dict]:
    "A `<Composer>/*.mid` folder with good files and every kind of bad one: (good id -> source, bad id -> reason)."
    good, bad = {}, {}
    srcs = manifest.groupby("composer").head(2).head(8)
    for r in srcs.itertuples():
        p = root / r.composer / f"good_{Path(r.path).stem}.mid"; p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(r.path, p); good[f"{r.composer}/{p.stem}"] = r.path
    data = Path(srcs.path.iloc[0]).read_bytes()
    (root / "Bach" / "empty.mid").write_bytes(b""); bad["Bach/empty"] = "empty file"
    (root / "Bach" / "truncated.mid").write_bytes(data[:len(data) // 2]); bad["Bach/truncated"] = "truncated"
    corrupt = bytearray(data); corrupt[22:30] = b"\xf4" * 8
    (root / "Bach" / "corrupt.mid").write_bytes(bytes(corrupt)); bad["Bach/corrupt"] = "corrupt MIDI data"
    (root / "Bach" / "webpage.mid").write_text("<html>404 Not Found</html>\n"); bad["Bach/webpage"] = "not a MIDI file"
    (root / "Bach" / "folder.mid").mkdir(); bad["Bach/folder"] = "is a directory"
    shutil.copy(srcs.path.iloc[1], root / "Bach" / "folder.mid" / "inside.mid"); good["Bach/folder.mid/inside"] = srcs.path.iloc[1]
    (root / "Bach" / "dangling.mid").symlink_to(root / "nowhere.mid"); bad["Bach/dangling"] = "no such file"
    locked = root / "Bach" / "locked.mid"; shutil.copy(srcs.path.iloc[0], locked); locked.chmod(0)
    return good, bad

def readable(p: Path) -> bool:
    "Can this process open `p` (root can, whatever its mode says)?"
    try: os.close(os.open(p, os.O_RDONLY)); return True
    except PermissionError: return False

def check_build(m, ok_ids, failed, good, bad):
    "Every good file kept, every bad one reported with its reason, nothing dropped."
    assert sorted(ok_ids) == sorted(good)
    reasons = dict(zip(failed.id, failed.reason))
    assert sorted(reasons) == sorted(bad), reasons
    for i, why in bad.items(): assert why in reasons[i], (i, reasons[i])
    assert len(ok_ids) + len(reasons) == len(m)

@pytest.mark.parametrize("how", ["real chmod", "os.open refuses"])
def test_corpus_build_with_bad_files(tmp_path, manifest, monkeypatch, how):
    "scan_folder + read_corpus_stats + token_cache finish, keep every good file and report each bad one with its reason."
    root = tmp_path / "collection"
    good, bad = bad_folder(root, manifest)
    locked = root / "Bach" / "locked.mid"
    if how == "os.open refuses":          # what a user without read permission sees, also when the tests run as root
        real_open = os.open
        def refuse(path, *a, **k):
            if Path(path) == locked: raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *a, **k)
        monkeypatch.setattr(os, "open", refuse)
    if readable(locked): good["Bach/locked"] = str(locked)          # root: mode 000 does not stop a read
    else: bad["Bach/locked"] = "permission denied"
    m = scan_folder(root)
    assert sorted(m.id) == sorted([*good, *bad])
    stats, failed = read_corpus_stats(m, progress=False)
    check_build(m, stats.id, failed, good, bad)
    cache = token_cache(m, PerformanceEncoding(), root=tmp_path / "tokens", workers=1, progress=False)
    check_build(m, cache.ids, cache.failed, good, bad)
    for i, src in good.items():           # kept files are encoded exactly as a clean read would
        if i != "Bach/locked": np.testing.assert_array_equal(cache.piece(cache.ids.index(i)), PerformanceEncoding().encode(read_notes(src)))

def test_locked_file_is_really_locked_or_we_are_root(tmp_path):
    "The chmod 000 case is what we think it is: unreadable, unless this process is root."
    p = tmp_path / "locked.mid"; p.write_bytes(b"MThd"); p.chmod(0)
    assert readable(p) == (os.geteuid() == 0)

# --- caches killed mid-write: the old file or none, never half a file; the next run rebuilds ----------

def sample_of(manifest, n=240):
    return manifest.sample(n, random_state=1).reset_index(drop=True)

def child_kill_token_cache(root):
    "Build a token cache and SIGKILL this process halfway through writing tokens.npy."
    import shutil as sh
    def half_then_die(src, dst, *a):
        data = src.read(); dst.write(data[:len(data) // 2]); dst.flush(); os.kill(os.getpid(), signal.SIGKILL)
    sh.copyfileobj = half_then_die
    token_cache(sample_of(load_manifest()), PerformanceEncoding(), root=root, workers=1, progress=False)

def test_token_cache_killed_mid_write(tmp_path, manifest):
    "A build killed while writing leaves no cache folder (only a temporary one), and the next run builds a whole one."
    root = tmp_path / "tokens"
    run_child("kill-token-cache", root, expect_kill=True)
    left = sorted(p.name for p in root.iterdir())
    assert len(left) == 1 and left[0].endswith(".tmp"), left          # the half-written build, under a temporary name
    assert (root / left[0] / "tokens.npy").stat().st_size > 0
    cache = token_cache(sample_of(manifest), PerformanceEncoding(), root=root, workers=1, progress=False)
    assert cache.built and sorted(p.name for p in root.iterdir()) == [cache.key]      # rebuilt; the stale one removed
    fresh = token_cache(sample_of(manifest), PerformanceEncoding(), root=tmp_path / "fresh", workers=1, progress=False)
    np.testing.assert_array_equal(TokenCache.load(root / cache.key).tokens, fresh.tokens)

def child_kill_shards(root):
    "Build a shard cache and SIGKILL this process halfway through writing its 4th shard."
    import io
    real, calls = np.savez, [0]
    def savez(f, **arrays):
        calls[0] += 1
        if calls[0] < 4: return real(f, **arrays)
        buf = io.BytesIO(); real(buf, **arrays)
        with open(f, "wb") as out:
            out.write(buf.getvalue()[:len(buf.getvalue()) // 2]); out.flush(); os.kill(os.getpid(), signal.SIGKILL)
    np.savez = savez
    from maestro_lessons.scale import build_shards
    build_shards(sample_of(load_manifest()), PerformanceEncoding(), root=root, shard_pieces=40, workers=1, progress=False)

def test_shard_cache_killed_mid_write(tmp_path, manifest):
    "Shards are whole or absent; the index is written last; the next run keeps the 3 finished shards and builds the rest."
    from maestro_lessons.scale import build_shards
    root = tmp_path / "shards"
    run_child("kill-shards", root, expect_kill=True)
    (folder,) = root.iterdir()
    names = sorted(p.name for p in folder.iterdir())
    assert names[1:] == [f"shard-0000{k}.npz" for k in range(3)], names       # no index.json: it is written last
    assert names[0].startswith(".shard-00003.npz.") and names[0].endswith(".tmp.npz"), names   # the half shard, not renamed
    for k in range(3): np.load(folder / f"shard-0000{k}.npz")["tokens"]          # the finished shards are whole
    cache = build_shards(sample_of(manifest), PerformanceEncoding(), root=root, shard_pieces=40, workers=1, progress=False)
    assert cache.built and cache.index["resumed"] and len(cache.index["shards"]) == 6
    assert not list(folder.glob(".*.tmp*"))                                     # the half shard was cleaned up
    fresh = build_shards(sample_of(manifest), PerformanceEncoding(), root=tmp_path / "fresh", shard_pieces=40, workers=1, progress=False)
    for k in range(6): np.testing.assert_array_equal(cache.shard(k)["tokens"], fresh.shard(k)["tokens"])

def child_overwrite(path):
    "Replace `path` through atomic_file, SIGKILLed halfway through the new content."
    from maestro_lessons.files import atomic_file
    def write(tmp):
        with open(tmp, "wb") as f: f.write(b"new " * 1000); f.flush(); os.kill(os.getpid(), signal.SIGKILL)
    atomic_file(Path(path), write)

def test_atomic_overwrite_keeps_old_file(tmp_path):
    "Killed while replacing a file, atomic_file leaves the old content, whole."
    p = tmp_path / "index.json"
    p.write_text('{"version": 1}')
    run_child("overwrite", p, expect_kill=True)
    assert json.loads(p.read_text()) == {"version": 1}

# --- training resumes from the last checkpoint after a crash --------------------------------------------

def child_train(backup, out, crash_after):
    "Train a small LSTM 3 epochs with fit_resumable; crash (SIGKILL) after epoch `crash_after` (0: never)."
    import keras
    import tensorflow as tf
    from maestro_lessons.scale import fit_resumable
    rng = np.random.default_rng(0)
    x, y = rng.integers(1, 50, (64, 12)), rng.integers(0, 3, 64)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((12,)), keras.layers.Embedding(50, 8), keras.layers.LSTM(8), keras.layers.Dense(3)])
        m.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return m
    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == int(crash_after): os.kill(os.getpid(), signal.SIGKILL)
    m = model()
    h = fit_resumable(m, ds, 3, backup, callbacks=[Crash()], verbose=0, shuffle=False)
    whole = model()
    fit_resumable(whole, ds, 3, Path(out).with_suffix(".whole"), verbose=0, shuffle=False)
    np.savez(out, epochs=np.array(h.epoch), resumed=np.concatenate([w.ravel() for w in m.get_weights()]),
             whole=np.concatenate([w.ravel() for w in whole.get_weights()]))

def test_training_resumes_after_a_crash(tmp_path):
    "Killed after epoch 1, a rerun trains epochs 2-3 only and ends where an uninterrupted run ends."
    backup, out = tmp_path / "backup", tmp_path / "out.npz"
    run_child("train", backup, out, 1, expect_kill=True)
    assert (backup / "latest.weights.h5").exists() and json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1
    run_child("train", backup, out, 0)
    r = np.load(out)
    assert r["epochs"].tolist() == [1, 2]                      # epoch 0 was not run again
    np.testing.assert_allclose(r["resumed"], r["whole"], rtol=0, atol=1e-5)
    assert not backup.exists()                                 # a finished run removes its backup

# --- the MIDI reader, fuzzed -------------------------------------------------------------------------

FUZZ_CASES, PER_FILE_LIMIT_S, STALL_S = 20_000, 2.0, 60

def mutate(data: bytes, rng) -> tuple[bytes, str]:
    "One random mutation of `data`: bit flips, a truncation, inserted bytes, a clobbered header/length field, a cut slice."
    b, n, kind = bytearray(data), len(data), int(rng.integers(6))
    if kind == 0:
        for i in rng.integers(0, n * 8, int(rng.integers(1, 17))): b[i // 8] ^= 1 << (i % 8)
        return bytes(b), "bit flips"
    if kind == 1: return bytes(b[:int(rng.integers(0, n))]), "truncated"
    if kind == 2:
        at = int(rng.integers(0, n + 1))
        return bytes(b[:at]) + rng.bytes(int(rng.integers(1, 65))) + bytes(b[at:]), "inserted bytes"
    if kind == 3:
        for i in rng.integers(0, min(n, 32), int(rng.integers(1, 9))): b[i] = int(rng.integers(256))
        return bytes(b), "header bytes"
    if kind == 4:
        at = int(rng.integers(0, max(n - 4, 1)))
        b[at:at + 4] = [b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00", b"\x80\x00\x00\x00"][int(rng.integers(4))]
        return bytes(b[:n]), "extreme 4-byte field"
    at, k = int(rng.integers(0, n)), int(rng.integers(1, 64))
    return bytes(b[:at] + b[at + k:]), "cut slice"

def fuzz_sources(n_files: int = 300) -> list[str]:
    "Corpus files of every composer, mostly small (fast to read), a few of the largest."
    m = load_manifest()
    m = m.assign(size=[os.path.getsize(p) for p in m.path])
    small = m[m["size"] <= 64_000].groupby("composer").head(n_files // 7)
    return small.path.tolist() + m.nlargest(4, "size").path.tolist()

def child_fuzz(out, progress, cases):
    "Read `cases` mutated files; record every exception other than MidiError and the largest CPU time of one read."
    srcs = [Path(p).read_bytes() for p in fuzz_sources()]
    work, fd = Path(out).with_suffix(".mid"), os.open(progress, os.O_WRONLY | os.O_CREAT)
    escaped, slowest, n_ok, n_err = [], (0.0, None), 0, 0
    for case in range(int(cases)):
        rng = np.random.default_rng(case)
        data, how = mutate(srcs[int(rng.integers(len(srcs)))], rng)
        work.write_bytes(data)
        os.pwrite(fd, f"{case:>8} {how:<22}".encode(), 0)
        t = time.process_time()          # CPU time: a busy machine slows the wall clock, not the reader's work
        try: read_notes(work); n_ok += 1
        except MidiError: n_err += 1
        except Exception as e: escaped.append(dict(case=case, how=how, error=f"{type(e).__name__}: {e}"[:300]))
        dt = time.process_time() - t
        if dt > slowest[0]: slowest = (dt, case)
    Path(out).write_text(json.dumps(dict(cases=int(cases), read=n_ok, midi_error=n_err, escaped=escaped,
                                         slowest_cpu_s=slowest[0], slowest_case=slowest[1], sources=len(srcs))))

def test_fuzzed_midi_only_raises_midierror(tmp_path):
    "20,000 mutated corpus files (>= 10,000 asked): read_notes returns Notes or raises MidiError, never anything else, never hangs."
    out, progress = tmp_path / "fuzz.json", tmp_path / "progress"
    proc = subprocess.Popen([sys.executable, str(HERE), "fuzz", str(out), str(progress), str(FUZZ_CASES)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last, since = None, time.monotonic()
    try:
        while proc.poll() is None:          # a hang: the same case for STALL_S seconds (the wall clock of a busy machine is slack)
            time.sleep(1)
            now = progress.read_text() if progress.exists() else None
            if now != last: last, since = now, time.monotonic()
            elif time.monotonic() - since > STALL_S:
                pytest.fail(f"read_notes hangs on case {now!r} (no progress for {STALL_S} s; the case number seeds its mutation)")
    finally:
        if proc.poll() is None: proc.kill(); proc.wait()
    assert proc.returncode == 0, f"the reader crashed the process (rc {proc.returncode}) at case {last}:\n{proc.stderr.read()[-2000:]}"
    res = json.loads(out.read_text())
    assert res["cases"] >= 10_000 and res["read"] + res["midi_error"] + len(res["escaped"]) == res["cases"]
    assert res["escaped"] == [], res["escaped"][:10]
    assert res["slowest_cpu_s"] < PER_FILE_LIMIT_S, res
    assert res["midi_error"] > res["cases"] // 10          # the mutations do break files
    print(f"fuzz: {res}")

# --- every model builder of the course keeps its LSTMs on cuDNN -------------------------------------------

BUILDER_MODULES = ("maestro_lessons.classifier", "maestro_lessons.generator")
BUILDER_ARGS = dict(vocab_size=40, n_classes=3)          # values for the builders' required parameters

def model_builders():
    "Every `build_*` function defined in the lessons' model modules."
    import importlib, inspect
    for name in BUILDER_MODULES:
        mod = importlib.import_module(name)
        for fname, fn in inspect.getmembers(mod, inspect.isfunction):
            if fname.startswith("build_") and fn.__module__ == name: yield pytest.param(fn, id=f"{name.split('.')[-1]}.{fname}")

@pytest.mark.parametrize("build", list(model_builders()))
def test_model_builders_keep_lstms_on_cudnn(build):
    "Each builder, with its default settings, makes LSTMs that Keras can run with the fused cuDNN kernel."
    import inspect
    from maestro_lessons.scale import check_cudnn
    required = [p.name for p in inspect.signature(build).parameters.values() if p.default is inspect.Parameter.empty]
    assert set(required) <= set(BUILDER_ARGS), f"add test values for {set(required) - set(BUILDER_ARGS)} to BUILDER_ARGS"
    report = check_cudnn(build(**{k: BUILDER_ARGS[k] for k in required}))
    assert len(report) >= 1 and report.cudnn.all(), report

if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    {"kill-token-cache": child_kill_token_cache, "kill-shards": child_kill_shards, "overwrite": child_overwrite,
     "train": child_train, "fuzz": child_fuzz}[mode](*args)
