"""``python -m reidlab.viz.explore``: the retrieval explorer's redraw timing
(:func:`measure_redraw`) and the README's screenshots in headless Chromium (:func:`take_screenshots`).
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Union

from reidlab.errors import ConfigError, ReIDLabError
from reidlab.viz.explore.retrieval import explore_retrieval

# --------------------------------------------------------------------------------------
# Command line: redraw timing, README screenshots
# --------------------------------------------------------------------------------------


def measure_redraw(explorer: Any, repeats: int = 20) -> dict[str, list[float]]:
    """Wall-clock seconds of the retrieval explorer's redraws, driven through its widgets as a
    user would (headless: state change, ranking, figure, PNG, widget update; no browser
    transfer): ``{"next query": [...], "scoring": [...], "grad-cam (first)": [...],
    "grad-cam (cached)": [...]}``. The explorer's evaluation should have computed its
    settings already (the explorer does on creation)."""
    import time

    out: dict[str, list[float]] = {"next query": [], "scoring": [], "grad-cam (first)": [], "grad-cam (cached)": []}
    s = explorer.state
    settings = s.settings
    for _i in range(int(repeats)):
        if s.position >= len(s.queries()) - 1:
            explorer.slider.value = 0
        t = time.perf_counter()
        explorer.next_button.click()
        out["next query"].append(time.perf_counter() - t)
        t = time.perf_counter()
        explorer.scoring.value = settings[(settings.index(s.setting) + 1) % len(settings)]
        out["scoring"].append(time.perf_counter() - t)
    if s.explainer is not None:
        for _i in range(min(3, int(repeats))):
            explorer.next_button.click()
            t = time.perf_counter()
            explorer.rank.value = 1
            out["grad-cam (first)"].append(time.perf_counter() - t)
            explorer.rank.value = None
            t = time.perf_counter()
            explorer.rank.value = 1
            out["grad-cam (cached)"].append(time.perf_counter() - t)
    return {k: v for k, v in out.items() if v}


_SCREENSHOT_CELLS = (
    "import os\nfrom reidlab import lab, viz\n"
    "cfg, ds = lab.setup('explore_screenshots', profile=os.environ['REIDLAB_PROFILE'])\n"
    "runs = {m: lab.ensure_run(cfg, m, progress=False) for m in ('pfn', 'mgwp', 'lgeu', 'jlpose')}\n"
    "ev = lab.evaluation(cfg, runs['pfn'])",
    "retrieval = viz.explore_retrieval(ev, top_k=8, only_failures=True)\nretrieval.rank.value = 1\nretrieval",
    "attention = viz.explore_attention(runs, viz.spread(ds.query, 24), target='similarity')\nattention",
    "camera_time = viz.explore_st(ev.st_model, ev, order='st-change')\ncamera_time",
)


def _project_root():
    """The project folder (first ancestor of the working directory with ``pyproject.toml`` and
    ``reidlab/``, else the one above the package): where ``reports/`` and the runs live."""
    from pathlib import Path

    here = Path.cwd().resolve()
    for cand in (here, *here.parents):
        if (cand / "pyproject.toml").is_file() and (cand / "reidlab").is_dir():
            return cand
    return Path(__file__).resolve().parents[3]


def _compact_png(path, limit: int = 150_000):
    """Re-save a PNG optimised; above ``limit`` bytes as an 8-bit palette PNG (README images
    stay small)."""
    from PIL import Image

    with Image.open(path) as im:
        img = im.convert("RGB")
    img.save(path, optimize=True)
    if path.stat().st_size > limit:
        img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    return path


def take_screenshots(out_dir: Union[str, "os.PathLike[str]"], profile: str = "smoke", timeout: float = 900.0) -> list:
    """Open the three explorers in JupyterLab in headless Chromium and save a PNG of each
    (``explore_retrieval.png``, ``explore_attention.png``, ``explore_st.png``) in ``out_dir``.

    Runs a generated notebook in ``reports/browser/`` with ``REIDLAB_PROFILE=profile``: the
    PFN run's evaluation (and the MGWP, LGEU and jlpose runs) of that profile, trained first
    when missing. Returns the written paths."""
    from pathlib import Path

    import nbformat

    import reidlab.viz._browser as B

    why = B.chromium_missing_reason()
    if why:
        raise ConfigError(why)
    root = _project_root()
    folder = root / "reports" / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in _SCREENSHOT_CELLS]
    path = folder / "explore_screenshots.ipynb"
    nbformat.write(nb, str(path))
    out = Path(out_dir)
    env = {"REIDLAB_PROFILE": profile, "PYTHONPATH": os.pathsep.join(
        p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)}
    written = []
    lab = B.JupyterLab(root, env=env)
    try:
        with lab, B.Chromium(width=1500, height=1500) as browser:
            page = browser.page()
            rel = str(path.relative_to(root))
            B.open_notebook(page, lab, rel)
            B.run_all(page, timeout=timeout)
            for name, sel in (("retrieval", ".reidlab-retrieval"), ("attention", ".reidlab-attention"),
                              ("st", ".reidlab-st")):
                page.wait_for(f"Array.from(document.querySelectorAll('{sel} img')).every(i => i.complete) && "
                              f"document.querySelectorAll('{sel} img').length > 0", 60, f"the {name} explorer's images")
                written.append(_compact_png(page.screenshot(out / f"explore_{name}.png", sel, pad=8)))
    except B.BrowserError as err:
        raise B.BrowserError(f"{err}\njupyter lab log:\n{lab.log_tail()}") from None
    finally:
        lab.cleanup()
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m reidlab.viz.explore --time | --screenshots DIR`` (see the module docstring)."""
    import argparse
    import statistics

    ap = argparse.ArgumentParser(prog="python -m reidlab.viz.explore",
                                 description="Measure the retrieval explorer's redraw times, or take the README's "
                                             "screenshots of the three explorers in headless Chromium.")
    ap.add_argument("--time", metavar="RUN", help="time query / scoring switches of the retrieval explorer on a run "
                                                 "folder's evaluation (headless, in this process)")
    ap.add_argument("--data", default="", help="--time: dataset folder to evaluate on (default: the run's)")
    ap.add_argument("--repeats", type=int, default=20, help="--time: switches timed per kind")
    ap.add_argument("--screenshots", metavar="DIR", help="write explore_{retrieval,attention,st}.png to DIR")
    ap.add_argument("--profile", default="smoke", help="--screenshots: lab profile whose runs are shown "
                                                       "(smoke, demo, ...; trained first when missing)")
    args = ap.parse_args(argv)
    if not args.time and not args.screenshots:
        ap.error("choose --time RUN and/or --screenshots DIR")
    try:
        if args.time:
            import time

            import matplotlib

            matplotlib.use("Agg")
            from reidlab.engine.runs import run_evaluation

            t = time.perf_counter()
            ev = run_evaluation(args.time, data=args.data or None)
            t_ev = time.perf_counter() - t
            t = time.perf_counter()
            ex = explore_retrieval(ev, top_k=8)
            t_build = time.perf_counter() - t
            print(f"{args.time} on {getattr(ev.dataset, 'root', args.data)}: {len(ev.query)} queries x "
                  f"{len(ev.gallery)} gallery images")
            print(f"evaluation (features from the run's cache or extracted): {t_ev:.2f} s; explorer built "
                  f"(every setting's distances and metrics: {', '.join(ex.state.settings)}): {t_build:.2f} s")
            for k, v in measure_redraw(ex, args.repeats).items():
                print(f"{k:>18}: median {1000 * statistics.median(v):6.0f} ms, max {1000 * max(v):6.0f} ms "
                      f"({len(v)} redraws)")
        if args.screenshots:
            for p in take_screenshots(args.screenshots, profile=args.profile):
                print(p)
    except ReIDLabError as err:
        print(f"error: {err}")
        return 2
    return 0
