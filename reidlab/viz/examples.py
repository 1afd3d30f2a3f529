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
    from reidlab.data import decode_image, eval_transform, load_dataset
    from reidlab.engine.extract import extract_features, records_keypoints
    from reidlab.engine.runs import load_run
    from reidlab.eval import (STModel, joint_score, k_reciprocal_rerank, pairwise_distance, rank_metrics,
                              st_rerank_distance)
    from reidlab.models import create_model

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
    size = tuple(run.preset.input_size)

    def inp(rec):
        x = eval_transform(decode_image(rec.path), size)
        kp = records_keypoints([rec], size)[0][0] if rec.keypoints is not None else None
        return x, kp

    qf = extract_features(model, ds.query, size=size)
    gf = extract_features(model, ds.gallery, size=size)
    qp, gp = [r.pid for r in ds.query], [r.pid for r in ds.gallery]
    qc, gc = [r.camid for r in ds.query], [r.camid for r in ds.gallery]
    dist = pairwise_distance(qf, gf, metric="cosine").numpy()
    plain = rank_metrics(dist, qp, gp, qc, gc)
    rr = k_reciprocal_rerank(dist, pairwise_distance(qf, qf, metric="cosine").numpy(),
                             pairwise_distance(gf, gf, metric="cosine").numpy())
    st = STModel.fit([r.pid for r in ds.train], [r.camid for r in ds.train], [r.frame for r in ds.train])
    p_st = st.probability(qc, [r.frame for r in ds.query], gc, [r.frame for r in ds.gallery]).numpy()
    score = joint_score(1.0 - dist, p_st)
    st_dist = st_rerank_distance(score)
    results = {"plain": plain, "re-ranked": rank_metrics(rr, qp, gp, qc, gc),
               "ST joint": rank_metrics(st_dist, qp, gp, qc, gc)}

    # the Grad-CAM figures explain a correct rank-1 match (the query with the best AP); the
    # galleries show the query whose AP the spatial-temporal score improves most
    ap = np.nan_to_num(plain.all_ap, nan=-1.0)
    qi = int(np.argmax(ap))
    order = np.argsort(dist[qi], kind="stable")
    match = next(j for j in order if gp[j] == qp[qi] and gc[j] != qc[qi])
    q, g = inp(ds.query[qi]), inp(ds.gallery[match])
    gain = np.nan_to_num(results["ST joint"].all_ap - plain.all_ap, nan=-1.0)
    qs = int(np.argmax(gain))

    _save(viz.gradcam_similarity(model, q[0], g[0], labels=("query", "correct match")), out, "similarity")
    _save(viz.gradcam_parts(model, q[0], g[0]), out, "parts")
    _save(viz.plot_stripe_contribution(model, q[0], g[0]), out, "stripes")
    _save(viz.plot_retrieval(dist, ds.query, ds.gallery, qs, top_k=8), out, "retrieval")
    _save(viz.plot_retrieval_comparison({"plain": dist, "re-ranked": rr, "ST joint": score}, ds.query, ds.gallery,
                                        qs, top_k=8, higher_is_better=("ST joint",)), out, "retrieval_comparison")
    _save(viz.plot_worst_queries(dist, ds.query, ds.gallery, n=3, top_k=6), out, "worst_queries")
    _save(viz.plot_cmc(results, max_rank=20), out, "cmc")
    _save(viz.plot_training_curves(run.path, metrics=("loss", "lr")), out, "training_curves")
    _save(viz.plot_st_histograms(st, pairs=[(0, 1), (1, 0), (1, 2), (2, 3)]), out, "st_histograms")
    _save(viz.plot_st_matrix(st), out, "st_matrix")
    _save(viz.plot_st_joint(1.0 - dist[qs], p_st[qs], score[qs], gallery_pids=gp, query_pid=qp[qs]), out, "st_joint")

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
