"""Regenerate the README's example figures (``docs/img/viz_*.png``) from the demo's trained runs.

    python -m reidlab.report.examples --out docs/img

Draws every kind of figure of :mod:`reidlab.viz` from the warm-started runs that ``make demo``
trains (profile ``demo``, seed 0: ``runs/demo/pfn-cpu-demo-seed0`` and the MGWP, LGEU and
jlpose runs next to it), reused through :func:`reidlab.lab.ensure_run` when their stamps match
and trained (as the notebooks would) when missing: similarity and per-part Grad-CAM, stripe
contributions, retrieval galleries (plain / re-ranked / spatial-temporal), worst queries, CMC
and training curves and the spatial-temporal plots from the PFN run; MGWP's TSA and non-local
maps, LGEU's part x channel weights and jlpose's pose boxes from their own trained runs. Prints,
and writes to ``<out>/viz_sources.json``, which run drew each figure and its plain rank-1 / mAP.
``--profile smoke`` draws the same figures from the smoke runs in a minute (for checking the code).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch


def _save(fig, out: Path, name: str, dpi: int = 80) -> Path:
    """Save as RGB PNG; above 150 KB as an 8-bit palette PNG (the README wants < 200 KB each)."""
    import io

    from PIL import Image

    path = out / f"viz_{name}.png"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    img.save(path, optimize=True)
    if path.stat().st_size > 150_000:
        img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"{path}  {path.stat().st_size / 1024:.0f} KB")
    return path


#: Which model's run draws each figure (the rest of the figures are PFN's).
FIGURE_MODELS: dict[str, str] = {"tsa": "mgwp", "nonlocal": "mgwp", "lgeu": "lgeu", "pose_boxes": "jlpose"}
FIGURES = ("similarity", "parts", "stripes", "retrieval", "retrieval_comparison", "worst_queries", "cmc",
           "training_curves", "st_histograms", "st_matrix", "st_joint", "tsa", "nonlocal", "lgeu", "pose_boxes")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: ``python -m reidlab.report.examples [--profile P] [--data D] [--out O] [--seed S]``."""
    ap = argparse.ArgumentParser(prog="python -m reidlab.report.examples", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="demo", help="profile whose runs draw the figures (default demo)")
    ap.add_argument("--data", default="", help="SynthReID (Market layout) folder (default: the profile's)")
    ap.add_argument("--out", default="docs/img", help="where the viz_*.png files go")
    ap.add_argument("--seed", type=int, default=0, help="seed of the runs (default 0, the demo's)")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    from reidlab import lab, viz
    from reidlab.eval import pairwise_distance
    from reidlab.fileio import atomic_write_text
    from reidlab.viz.data import model_input

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg, ds = lab.setup("viz-examples", profile=args.profile, seed=args.seed, data_root=args.data,
                        output_dir=tempfile.mkdtemp(prefix="reidlab-viz-examples-"), device="cpu")
    runs = {m: lab.ensure_run(cfg, m, progress=False) for m in ("pfn", "mgwp", "lgeu", "jlpose")}
    evs = {m: lab.evaluation(cfg, r) for m, r in runs.items()}
    run, ev = runs["pfn"], evs["pfn"]
    model = run.model.eval()
    dist = ev.distance("single-query").numpy()
    results = {"plain": ev.result("single-query"), "re-ranked": ev.result("rerank"), "ST joint": ev.result("st")}

    # the Grad-CAM figures explain a correct rank-1 match (the query with the best AP); the
    # galleries show the query whose AP the spatial-temporal score improves most
    qi = int(np.argmax(np.nan_to_num(results["plain"].all_ap, nan=-1.0)))
    ranked = ev.ranking("single-query", qi, top_k=len(ds.gallery))
    match = int(ranked[ranked["correct"]]["gallery_index"].iloc[0])
    q, g = model_input(run, ds.query[qi]), model_input(run, ds.gallery[match])
    gain = np.nan_to_num(results["ST joint"].all_ap - results["plain"].all_ap, nan=-1.0)
    qs = int(np.argmax(gain))
    gp = np.array([r.pid for r in ds.gallery])
    sim = 1.0 - pairwise_distance(ev.query_features[qs:qs + 1], ev.gallery_features, metric="cosine").numpy()[0]
    p_st = ev.st_model.probability([ds.query[qs].camid], [ds.query[qs].frame], [r.camid for r in ds.gallery],
                                   [r.frame for r in ds.gallery]).numpy()[0]

    _save(viz.gradcam_similarity(model, q[0], g[0], labels=("query", "correct match")), out, "similarity")
    _save(viz.gradcam_parts(model, q[0], g[0]), out, "parts")
    _save(viz.plot_stripe_contribution(model, q[0], g[0]), out, "stripes")
    _save(viz.plot_retrieval(dist, ds.query, ds.gallery, qs, top_k=8), out, "retrieval")
    _save(viz.plot_retrieval_comparison({"plain": dist, "re-ranked": ev.distance("rerank"), "ST joint": ev.distance("st")},
                                        ds.query, ds.gallery, qs, top_k=8), out, "retrieval_comparison")
    _save(viz.plot_worst_queries(dist, ds.query, ds.gallery, n=3, top_k=6), out, "worst_queries")
    _save(viz.plot_cmc(results, max_rank=20), out, "cmc")
    _save(viz.plot_training_curves(run.path, metrics=("loss", "lr")), out, "training_curves")
    _save(viz.plot_st_histograms(ev.st_model, pairs=[(0, 1), (1, 0), (1, 2), (2, 3)]), out, "st_histograms")
    _save(viz.plot_st_matrix(ev.st_model), out, "st_matrix")
    _save(viz.plot_st_joint(sim, p_st, gallery_pids=gp, query_pid=ds.query[qs].pid), out, "st_joint")

    # the models' own attention, each from its trained run, on the same query image
    mgwp, lgeu, jl = (runs[m].model.eval() for m in ("mgwp", "lgeu", "jlpose"))
    _save(viz.plot_tsa_maps(mgwp, model_input(runs["mgwp"], ds.query[qi])[0]), out, "tsa")
    _save(viz.plot_nonlocal_affinity(mgwp, model_input(runs["mgwp"], ds.query[qi])[0], position=(0.35, 0.5)),
          out, "nonlocal")
    _save(viz.plot_lgeu_weights(lgeu, model_input(runs["lgeu"], ds.query[qi])[0]), out, "lgeu")
    img, kp = model_input(runs["jlpose"], ds.query[qi])
    kp = kp if kp is not None else torch.zeros(18, 3)
    with torch.no_grad():
        boxes = jl.explain(img[None], keypoints=kp[None])["part_boxes"][0]
    _save(viz.plot_pose_boxes(img, kp, boxes), out, "pose_boxes")

    sources = {}
    for m, r in runs.items():
        res = evs[m].result("single-query")
        sources[m] = {"run": lab.short_path(r.path), "preset": r.preset.name, "init": r.preset.init,
                      "rank1": round(float(res.cmc[0]), 4), "mAP": round(float(res.mAP), 4),
                      "figures": [f for f in FIGURES if FIGURE_MODELS.get(f, "pfn") == m]}
        print(f"{m}: {sources[m]['run']} (init {r.preset.init}) rank-1 {100 * res.cmc[0]:.1f} % mAP "
              f"{100 * res.mAP:.1f} % -> {', '.join(sources[m]['figures'])}")
    atomic_write_text(out / "viz_sources.json", json.dumps(sources, indent=1) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
