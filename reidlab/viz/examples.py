"""Regenerate the README's example figures (``docs/img/viz_*.png``).

    python -m reidlab.viz.examples --data data/synthreid-small --out docs/img

Trains a tiny PFN (ResNet18 at a quarter of its width, the ``pfn-cpu-demo`` recipe for
``--epochs`` epochs of 2 iterations, about two minutes on one CPU core) on the small SynthReID set, then
draws every kind of figure of :mod:`reidlab.viz` from it: similarity and per-part
Grad-CAM, stripe contributions, retrieval galleries (plain / re-ranked / spatial-temporal),
worst queries, CMC and training curves, the spatial-temporal plots. The attention figures
of MGWP and LGEU use untrained tiny models (their layout, not a learned pattern); the
jlpose boxes come from the dataset's landmarks. Pass ``--run`` to reuse a trained PFN run
folder instead of training.
"""

from __future__ import annotations

import argparse
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: ``python -m reidlab.viz.examples [--data D] [--out O] [--epochs N] [--run R]``."""
    ap = argparse.ArgumentParser(prog="python -m reidlab.viz.examples", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data/synthreid-small", help="SynthReID (Market layout) folder")
    ap.add_argument("--out", default="docs/img", help="where the viz_*.png files go")
    ap.add_argument("--epochs", type=int, default=120, help="training epochs of the tiny PFN (2 iterations each)")
    ap.add_argument("--run", default="", help="existing PFN run folder to use instead of training")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    from reidlab import viz
    from reidlab.data import load_dataset
    from reidlab.engine.runs import load_run, run_evaluation
    from reidlab.eval import pairwise_distance
    from reidlab.models import create_model
    from reidlab.viz.data import model_input

    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset("market1501", args.data)
    if args.run:
        run = load_run(args.run)
    else:
        from reidlab.engine.trainer import train

        tmp = Path(tempfile.mkdtemp(prefix="reidlab-viz-examples-"))
        e = int(args.epochs)
        run = train("pfn-cpu-demo", data=args.data, out=tmp / "pfn", seed=args.seed, epochs=e,
                    milestones=(int(e * 2 / 3), int(e * 7 / 8)), device="cpu", progress=False, evaluate=False,
                    **{"model_options.backbone_width": 0.25})
    model = run.model.eval()
    # the one evaluator (reidlab.eval.Evaluation): the preset's metric, re-ranking, ST on the train split
    ev = run_evaluation(run, data=ds, device="cpu", use_cache=bool(args.run))
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

    kw = dict(backbone="resnet18", backbone_width=0.25)
    mgwp = create_model("mgwp", run.num_classes or 40, **kw).eval()
    lgeu = create_model("lgeu", run.num_classes or 40, **kw).eval()
    _save(viz.plot_tsa_maps(mgwp, q[0]), out, "tsa")
    _save(viz.plot_nonlocal_affinity(mgwp, q[0], position=(0.35, 0.5)), out, "nonlocal")
    _save(viz.plot_lgeu_weights(lgeu, q[0]), out, "lgeu")
    jl = create_model("jlpose", run.num_classes or 40, backbone_width=0.25).eval()
    kp = q[1] if q[1] is not None else torch.zeros(18, 3)
    with torch.no_grad():
        boxes = jl.explain(q[0][None], keypoints=kp[None])["part_boxes"][0]
    _save(viz.plot_pose_boxes(q[0], kp, boxes), out, "pose_boxes")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
