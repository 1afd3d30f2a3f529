"""The retrieval explorer in a real browser: JupyterLab on loopback, notebook 08 (smoke
profile) run in headless Chromium, the query changed by clicking the explorer's "next"
button, the scoring by clicking "re-ranked".

Skipped (with the reason) when Chromium is absent: `apt-get install chromium` on Debian.
Screenshots go to reports/browser/. `make test-browser` runs this file alone."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from reidlab.viz import _browser as B

REASON = B.chromium_missing_reason()
pytestmark = [pytest.mark.browser, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports" / "browser"
EXPLORER = ".reidlab-retrieval"
TITLE = re.compile(r"query (\d+) \u00b7 id (-?\d+) \u00b7 cam (\d+) \u2014 (.+?): ")


def _title(page) -> tuple[int, int, int, str]:
    text = B.text_of(page, f"{EXPLORER} .reidlab-query-title")
    m = TITLE.match(text or "")
    assert m, f"explorer title not found or malformed: {text!r}"
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)


def test_notebook_08_explorer_changes_query_and_scoring_in_chromium():
    from reidlab.data import load_dataset
    from reidlab.lab.config import configure

    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("08_*.png"):
        old.unlink()
    # a copy, so the committed notebook is never touched (autosave is off as well)
    shutil.copyfile(ROOT / "notebooks" / "08_retrieval_gallery.ipynb", OUT / "08_retrieval_gallery.ipynb")
    env = {"REIDLAB_PROFILE": "smoke",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    lab = B.JupyterLab(ROOT, env=env)
    t0 = time.monotonic()
    try:
        with lab, B.Chromium(width=1400, height=1100) as browser:
            page = browser.page()
            B.open_notebook(page, lab, "reports/browser/08_retrieval_gallery.ipynb", timeout=90)
            state = B.run_all(page, timeout=240)
            assert state["done"] == state["total"] and not state["errors"]
            page.wait_for(f"document.querySelectorAll('{EXPLORER} img.reidlab-gallery, {EXPLORER} .reidlab-gallery').length",
                          60, "the retrieval explorer to render")
            page.wait_for(f"document.querySelector('{EXPLORER} .reidlab-gallery').complete", 30, "the gallery image")
            q0, id0, cam0, scoring0 = _title(page)
            img0 = B.image_digest(page, f"{EXPLORER} .reidlab-gallery")
            assert img0 and scoring0 == "plain"
            page.screenshot(OUT / "08_explorer_start.png", EXPLORER)

            # "next" until the query's identity changes (consecutive queries may share an identity)
            q, pid, cam = q0, id0, cam0
            for _ in range(12):
                page.click(f"{EXPLORER} .reidlab-next")
                page.wait_for(f"""(() => {{ const t = document.querySelector('{EXPLORER} .reidlab-query-title');
                                   return t && !t.textContent.startsWith('query {q} '); }})()""",
                              20, "the explorer to show the next query")
                q, pid, cam, _ = _title(page)
                if pid != id0:
                    break
            assert q > q0 and pid != id0, (q0, id0, q, pid)
            img1 = B.image_digest(page, f"{EXPLORER} .reidlab-gallery")
            assert img1 != img0, "the gallery image did not change with the query"
            # the labels are the dataset's: query q's identity and (1-based) camera
            ds = load_dataset("market1501", configure("08_retrieval_gallery", profile="smoke").data_root)
            assert (ds.query[q].pid, ds.query[q].camid + 1) == (pid, cam)
            assert (ds.query[q0].pid, ds.query[q0].camid + 1) == (id0, cam0)

            # switch the scoring: the title names it, the query stays, the gallery changes
            page.click_text(f"{EXPLORER} .widget-toggle-button", "re-ranked")
            page.wait_for(f"""document.querySelector('{EXPLORER} .reidlab-query-title').textContent
                              .includes('\u2014 re-ranked: ')""", 20, "the re-ranked scoring")
            assert _title(page)[:3] == (q, pid, cam)
            # the title is set before the new gallery image is swapped in: poll for the image
            deadline = time.monotonic() + 20
            while B.image_digest(page, f"{EXPLORER} .reidlab-gallery") == img1 and time.monotonic() < deadline:
                time.sleep(0.25)
            assert B.image_digest(page, f"{EXPLORER} .reidlab-gallery") != img1, "re-ranking left the gallery as it was"
            shot = page.screenshot(OUT / "08_explorer.png", EXPLORER)
            page.screenshot(OUT / "08_page.png")
    except B.BrowserError as err:
        pytest.fail(f"{err}\n--- jupyter lab log ---\n{lab.log_tail()}")
    finally:
        lab.cleanup()
    assert shot.stat().st_size > 20_000
    print(f"browser test: {time.monotonic() - t0:.0f} s; screenshots in {OUT.relative_to(ROOT)}")
