"""The studio as a person uses it: served by Voilà on 127.0.0.1, driven in Debian's Chromium with Python Playwright.
The shipped generator (a stand-in) is the Generate tab's default; press Generate and wait for the audio players and
pictures; upload a MIDI file in the Classify tab and read the top guess. Small untrained models stand in for trained
ones (the widgets, not the music, are under test). Screenshots go to tests/out/screenshots/."""
import json, os, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "tests" / "out" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

MAKE_MODELS = """
import keras
from maestro_lessons.generator import Generator, build_generator, generator_encoding, save_generator
from maestro_lessons.classifier import build_event_lstm, clip_encoding, save_classifier
from maestro_lessons.files import models_dir
keras.utils.set_random_seed(0)
enc = generator_encoding(["Bach", "Palestrina"])
save_generator(Generator(build_generator(enc.vocab_size, 32, 32, 1, 0.0), enc, {"note": "untrained, for tests"}),
               models_dir() / "generator-tiny")
from maestro_lessons.files import shipped_dir                  # a stand-in for the shipped generator: the studio's default
save_generator(Generator(build_generator(enc.vocab_size, 32, 32, 1, 0.0), enc, {"note": "untrained, for tests"}),
               shipped_dir("generator"))
cenc = clip_encoding()
save_classifier(build_event_lstm(cenc.vocab_size, 2, 64, units=(16,)), models_dir("composer-classifier"), ["Bach", "Palestrina"], cenc, 64)
import json, sys
from maestro_lessons.classifier import load_classifier
probs = load_classifier(models_dir("composer-classifier")).predict_midi(sys.argv[1])      # what the studio must show for this file
top = next(iter(probs))
print(json.dumps(dict(composer=top, probability=probs[top])))
"""

APP = {"cells": [{"cell_type": "code", "execution_count": None, "id": "a1", "metadata": {}, "outputs": [],
                  "source": ["from maestro_lessons.studio import studio"]},
                 {"cell_type": "code", "execution_count": None, "id": "a2", "metadata": {}, "outputs": [],
                  "source": ["studio()"]}],
       "metadata": {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}},
       "nbformat": 4, "nbformat_minor": 5}


MIDI = sorted((ROOT / "datasets" / "music21" / "midi" / "bach").glob("*.mid"))[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    "Voilà serving a one-cell studio app over a cache folder holding tiny models; stopped afterwards."
    tmp = tmp_path_factory.mktemp("studio")
    env = dict(os.environ, MAESTRO_CACHE=str(tmp / "cache"), MAESTRO_MODELS=str(tmp / "shipped"), TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run([sys.executable, "-c", MAKE_MODELS, str(MIDI)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    expected = json.loads(r.stdout.strip().splitlines()[-1])
    (tmp / "studio.ipynb").write_text(json.dumps(APP))
    port, token = free_port(), os.urandom(8).hex()
    log = open(tmp / "voila.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "voila"), "studio.ipynb", "--no-browser",
                             "--Voila.ip=127.0.0.1", f"--port={port}", f"--token={token}"],
                            cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(120):
            try: urllib.request.urlopen(f"http://127.0.0.1:{port}/voila/static/favicon.ico", timeout=1); break
            except OSError: time.sleep(0.5)
            assert proc.poll() is None, (tmp / "voila.log").read_text()[-3000:]
        else: pytest.fail("Voilà did not start within 60 s")
        yield f"http://127.0.0.1:{port}/?token={token}", tmp, expected
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try: proc.wait(20)
        except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()
        log.close()


def test_studio_in_chromium(voila):
    import playwright.sync_api as pw                 # a pinned dev dependency: missing means a broken install, not a skip
    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make browser-deps`"
    url, tmp, expected = voila
    SHOTS.mkdir(parents=True, exist_ok=True)
    midi = MIDI
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.set_default_timeout(120_000)              # Voilà runs the notebook (imports TensorFlow) first
            page.goto(url)
            generate = page.get_by_role("button", name="Generate")
            generate.wait_for()
            model = page.locator("select").first                               # the Generate tab's model list
            labels = model.evaluate("s => [...s.options].map(o => o.text.replace(/\\u00a0/g, ' '))")   # ipywidgets writes nbsp
            assert labels == ["shipped", "yours: generator-tiny", "train a quick one now"], labels
            assert model.evaluate("s => s.options[s.selectedIndex].text") == "shipped"     # the shipped generator by default
            page.screenshot(path=str(SHOTS / "studio_loaded.png"))
            generate.click()
            page.locator(".widget-audio audio, audio").first.wait_for()
            pw.expect(page.locator("audio")).to_have_count(2)            # two variations, side by side
            assert page.locator(".widget-image img, img.widget-image").count() >= 2
            assert page.locator("a.maestro-download").count() == 2
            page.screenshot(path=str(SHOTS / "studio_generated.png"), full_page=True)

            page.get_by_role("tab", name="Classify").click()
            with page.expect_file_chooser() as chooser:                       # the Classify tab's upload button
                page.locator(".widget-upload:visible").click()
            chooser.value.set_files(str(midi))
            pw.expect(page.locator(".widget-upload:visible")).to_contain_text("(1)")
            page.get_by_role("button", name="Classify").click()
            guess = page.locator(".maestro-guess")
            guess.wait_for()
            page.locator("img:visible").last.wait_for()                       # the bar chart of probabilities
            text = guess.inner_text()
            top, p = expected["composer"], expected["probability"]
            assert f"{midi.name}: sounds like {top} ({p:.0%})" in text, (text, expected)   # the bundle's own answer
            page.screenshot(path=str(SHOTS / "studio_classified.png"))
        finally: browser.close()
