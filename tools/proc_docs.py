#!/usr/bin/env python
"""The first half of `nbdev-docs`, offline: nbs/_quarto.yml, nbs/nbdev.yml, nbs/sidebar.yml and _proc/
(processed notebooks, show_doc cells executed), without nbdev's attempt to install Quarto with sudo.
(Adapted from ../shared/notes/recipes/proc_docs.py; the full docs site is issue 6.)"""
import os, sys
from nbdev.config import get_config
from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar, _def_file_re
from nbdev.serve import proc_nbs
import nbdev.doclinks

cfg = get_config()
os.chdir(cfg.config_path)
refresh_quarto_yml()
nbdev.doclinks._build_modidx()
nbdev_sidebar.__wrapped__(file_re=_def_file_re)      # only .ipynb/.qmd/.html pages in the sidebar
print(proc_nbs(n_workers=0, force="--force" in sys.argv))
