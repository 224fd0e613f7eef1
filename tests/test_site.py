"""The docs site as a reader sees it: built offline by `make docs` (tools/build_docs.py), served on 127.0.0.1 and
opened in headless Chromium (Debian's, driven by Python Playwright). Screenshots go to tests/out/screenshots/."""
import functools, http.server, re, subprocess, sys, threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "tests" / "out" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def site():
    "Build the site once, serve it on a free loopback port, stop the server afterwards."
    r = subprocess.run([sys.executable, "tools/build_docs.py"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    docs = ROOT / "_docs"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(docs))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try: yield docs, f"http://127.0.0.1:{server.server_address[1]}/"
    finally: server.shutdown(); server.server_close()


class Links(HTMLParser):
    "The hrefs and element ids of one page."
    def __init__(self):
        super().__init__(); self.hrefs, self.ids = [], set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a: self.ids.add(a["id"])
        if tag == "a" and a.get("href"): self.hrefs.append(a["href"])


def parse(path: Path) -> Links:
    p = Links(); p.feed(path.read_text(errors="replace")); return p


def test_every_lesson_has_a_page(site):
    docs, _ = site
    expected = {re.sub(r"^\d+_", "", p.stem).lower() + ".html" for p in (ROOT / "nbs").glob("*.ipynb")}   # nbdev: 01_corpus → corpus, A1_files → a1_files
    assert expected <= {p.name for p in docs.glob("*.html")}


def test_internal_links_resolve(site):
    "Every relative link points at a page that exists, and at an anchor that exists on it."
    docs, _ = site
    pages = {p.name: parse(p) for p in docs.glob("*.html")}
    broken = []
    for name, page in pages.items():
        for href in page.hrefs:
            u = urlparse(href)
            if u.scheme or u.netloc or href.startswith(("mailto:", "javascript:")): continue
            target = urlparse(urljoin(name, href))
            file = target.path or name
            if file.endswith("/"): file += "index.html"
            if not (docs / file).exists(): broken.append(f"{name}: {href} (no such file)"); continue
            if target.fragment and file.endswith(".html"):
                ids = pages[file].ids if file in pages else parse(docs / file).ids
                if target.fragment not in ids: broken.append(f"{name}: {href} (no anchor)")
    assert not broken, "\n".join(broken[:30])


def test_pages_in_a_real_browser(site):
    "Home page and lesson pages load in Chromium with their pictures (and audio players where a lesson has them)."
    import playwright.sync_api as pw                 # a pinned dev dependency: missing means a broken install, not a skip
    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make browser-deps`"
    docs, url = site
    SHOTS.mkdir(parents=True, exist_ok=True)
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + "index.html"); page.wait_for_load_state("load")
            assert page.locator("h1").first.inner_text().strip() == "maestro_lessons"     # the home page, not any page
            assert "from a MIDI file to a composer classifier" in page.content()
            assert page.locator("nav, .sidebar, #quarto-sidebar").count() > 0
            page.screenshot(path=str(SHOTS / "site_home.png"))
            for name in ("notes", "encodings"):
                page.goto(url + f"{name}.html"); page.wait_for_load_state("load")
                n_img = page.locator("img").count()
                assert n_img > 0, f"{name}.html shows no picture"
                broken = page.evaluate("[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length")
                assert broken == 0, f"{name}.html: {broken} of {n_img} pictures do not load"
                page.screenshot(path=str(SHOTS / f"site_{name}.png"), full_page=False)
            audio_pages = [p.name for p in docs.glob("*.html") if "<audio" in p.read_text(errors="replace")]
            for name in audio_pages:
                page.goto(url + name); page.wait_for_load_state("load")
                assert page.locator("audio").count() > 0
                ok = page.evaluate("""() => Promise.all([...document.querySelectorAll('audio')].map(a =>
                    a.readyState >= 1 ? true : new Promise(r => { a.onloadedmetadata = () => r(true);
                    a.onerror = () => r(false); a.load(); setTimeout(() => r(a.readyState >= 1), 5000); })))""")
                assert all(ok), f"{name}: an audio player does not load its sound"
                page.locator("audio").first.scroll_into_view_if_needed()
                page.screenshot(path=str(SHOTS / f"site_{Path(name).stem}_audio.png"))
            assert not errors, errors
        finally: browser.close()
