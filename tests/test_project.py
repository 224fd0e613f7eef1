"""The project's own promises: README generated from the index notebook and opening with the two commands,
nbdev 3 settings in pyproject.toml, test flags, CI calling the README's test command."""
import subprocess, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_readme_is_generated_from_index_notebook():
    r = subprocess.run([sys.executable, "tools/make_readme.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

def test_readme_opens_with_the_two_commands():
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:15])
    assert "make demo" in head and "make test" in head

def test_nbdev3_settings_live_in_pyproject():
    assert not (ROOT / "settings.ini").exists()
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    flags = cfg["tool"]["nbdev"]["tst_flags"].split()
    assert {"slow", "gpu"} <= set(flags)
    assert "cuda" in cfg["project"]["optional-dependencies"]
    assert all("==" in d for d in cfg["project"]["dependencies"]), "dependencies are pinned"

def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()

def test_package_never_reads_shared_folder():
    for py in (ROOT / "maestro_lessons").glob("*.py"):
        assert "../shared" not in py.read_text() and "/shared/" not in py.read_text(), py

def test_import_cells_hold_only_imports():
    "nbdev's docs processing runs import cells on their own, so a cell mixing `import x` with other code breaks the docs."
    import json
    bad = []
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text())["cells"]):
            if cell["cell_type"] != "code": continue
            lines = [l for l in "".join(cell["source"]).splitlines() if l.strip() and not l.lstrip().startswith("#")]
            imports = [l for l in lines if l.startswith(("import ", "from "))]
            if imports and len(imports) < len(lines) and "#| export" not in "".join(cell["source"]):
                bad.append(f"{nb.name} cell {i}: {imports[0]}")
    assert not bad, "put these imports in a cell of their own:\n" + "\n".join(bad)
