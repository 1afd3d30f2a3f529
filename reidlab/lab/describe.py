"""Tables that describe a dataset, a model and a run (what the notebooks show under their
set-up cells). Every function returns a pandas DataFrame (or a number) and prints nothing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from reidlab.lab.config import NotebookConfig, short_path

__all__ = ["split_statistics", "random_rank1", "run_summary", "model_card", "curve_metrics"]


def _labels(ds_or_labels: Any):
    """``(q_pids, q_cams, g_pids, g_cams)`` numpy arrays from a dataset or such a tuple."""
    import numpy as np

    if isinstance(ds_or_labels, tuple):
        return tuple(np.asarray(a) for a in ds_or_labels)
    q, g = ds_or_labels.query, ds_or_labels.gallery
    return (np.array([r.pid for r in q]), np.array([r.camid for r in q]),
            np.array([r.pid for r in g]), np.array([r.camid for r in g]))


def random_rank1(ds_or_labels: Any) -> float:
    """Expected rank-1 (a fraction) of a uniformly random ranking under the junk rule.

    For each query with at least one valid match, the first gallery image of a random
    order (among the images the junk rule keeps) is a correct match with probability
    ``valid / candidates``; the mean over those queries. Accepts a dataset (query / gallery
    records) or a tuple ``(q_pids, q_cams, g_pids, g_cams)``.
    """
    import numpy as np

    q_pid, _, g_pid, _ = labels = _labels(ds_or_labels)
    keep = _kept(*labels)
    cand = keep.sum(1)
    pos = (keep & (g_pid[None, :] == q_pid[:, None])).sum(1)
    ok = (pos > 0) & (cand > 0)
    return float(np.mean(pos[ok] / cand[ok])) if ok.any() else 0.0


def _kept(q_pid, q_cam, g_pid, g_cam):
    """``[nq, ng]`` bool: the gallery items the junk rule keeps for each query
    (:func:`reidlab.eval.valid_gallery_mask`)."""
    import numpy as np

    from reidlab.eval import valid_gallery_mask

    if len(q_pid) == 0:
        return np.zeros((0, len(g_pid)), dtype=bool)
    return np.asarray(valid_gallery_mask(q_pid, q_cam, g_pid, g_cam), dtype=bool).reshape(len(q_pid), len(g_pid))


def split_statistics(ds) -> dict[str, Any]:
    """Tables describing a dataset (notebook 01).

    Returns a dict of DataFrames:
        ``splits``: the reader's per-split summary (ids, images, cameras, distractors, junk);
        ``per_camera``: images per camera (rows, 1-based ``c1``...) and split (columns);
        ``images_per_id``: describe() of the number of images per training identity;
        ``protocol``: per query, the number of valid correct gallery matches after the junk
        rule, summarised (min / median / mean / max, the number of queries with none, which
        evaluation skips) and the expected rank-1 of a random ranking (a fraction).
    """
    import numpy as np
    import pandas as pd

    splits = ds.summary_frame()
    cams = sorted({r.camid for recs in ds.splits().values() for r in recs})
    per_cam = pd.DataFrame({split: [sum(r.camid == c for r in recs) for c in cams] for split, recs in ds.splits().items()},
                           index=[f"c{c + 1}" for c in cams])
    per_cam.index.name = "camera"
    counts = pd.Series(list(Counter(r.pid for r in ds.train).values()), name="images per train identity")
    q_pid, q_cam, g_pid, g_cam = _labels(ds)
    valid = (_kept(q_pid, q_cam, g_pid, g_cam) & (g_pid[None, :] == q_pid[:, None])).sum(1)
    has = valid.size > 0
    protocol = pd.DataFrame({"value": {
        "queries": len(ds.query),
        "gallery images": len(ds.gallery),
        "valid matches per query (min)": int(valid.min()) if has else 0,
        "valid matches per query (median)": float(np.median(valid)) if has else 0.0,
        "valid matches per query (mean)": round(float(valid.mean()), 2) if has else 0.0,
        "valid matches per query (max)": int(valid.max()) if has else 0,
        "queries without a valid match (skipped)": int(np.sum(valid == 0)),
        "expected rank-1 of a random ranking": round(random_rank1(ds), 4),
    }}, dtype=object)
    return {"splits": splits, "per_camera": per_cam, "images_per_id": counts.describe().to_frame(),
            "protocol": protocol}


def run_summary(run):
    """One-column DataFrame describing a run: preset, model, backbone and its warm start
    (``init``), input size, iterations, epochs logged, last loss, training time, folder."""
    import pandas as pd

    m = run.metrics if run.metrics is not None else pd.DataFrame()
    t_file = Path(run.path) / "report-train-time.txt"
    rows = {
        "preset": run.preset.name, "model": run.preset.model,
        "backbone": run.preset.backbone or "(model's own)", "init (warm start)": run.preset.init,
        "input (HxW)": "x".join(map(str, run.preset.input_size)),
        "iterations": run.config.get("max_iters") or "preset schedule",
        "epochs logged": len(m),
        "last loss": round(float(m["loss"].iloc[-1]), 3) if "loss" in m and len(m) else "-",
        "training time (s)": t_file.read_text().strip() if t_file.is_file() else "-",
        "checkpoint": run.checkpoint, "folder": short_path(Path(run.path)),
    }
    return pd.DataFrame({"value": {k: str(v) for k, v in rows.items()}})


def run_caption(run, ev) -> str:
    """One Markdown sentence naming the run a figure is drawn from and how good it is:
    folder, preset, warm start (``init``), iterations and its plain single-query rank-1 / mAP
    (``ev``: the run's :class:`reidlab.eval.Evaluation`), in percent."""
    res = ev.result("single-query")
    iters = run.config.get("max_iters") or "the preset's schedule of"
    return (f"Drawn from run `{short_path(Path(run.path))}` ({run.preset.name}, warm start `{run.preset.init}`, "
            f"{iters} iterations): plain single-query rank-1 **{100 * float(res.cmc[0]):.1f} %**, "
            f"mAP {100 * float(res.mAP):.1f} %.")


def curve_metrics(run) -> tuple[str, ...]:
    """The columns of a run's ``metrics.csv`` worth plotting: ``loss``, the loss groups
    ``id`` / ``metric`` when they are non-zero, ``lr``, and ``rank1`` when the run was
    evaluated during training."""
    import pandas as pd

    m = run.metrics
    if m is None or not len(m):
        return ("loss",)
    cols = ["loss"]
    for c in ("id", "metric"):  # the loss groups (identification, metric learning)
        if c in m.columns and (pd.to_numeric(m[c], errors="coerce").fillna(0) > 0).any():
            cols.append(c)
    if "lr" in m.columns:
        cols.append("lr")
    if "rank1" in m.columns and pd.to_numeric(m["rank1"], errors="coerce").notna().any():
        cols.append("rank1")
    return tuple(cols)


#: The papers' building blocks listed by :func:`model_card` (class name -> what it is).
PAPER_MODULES: dict[str, str] = {
    "NonLocalBlock": "MGWP non-local block",
    "MultiScaleGlobal": "MGWP multi-scale global module",
    "TinySpatialAttention": "MGWP tiny spatial attention",
    "WeightDrivenPartFusion": "MGWP weight-driven part fusion",
    "LGEUnit": "LGEU unit (K part branches)",
    "PartExcitation": "one excitation branch (FC-ReLU-FC-sigmoid)",
}


def _module_rows(model) -> list[dict[str, str]]:
    """One row per kind of paper module in ``model``: how many, and the size of one."""
    import torch

    modules: dict[str, list] = {}
    for _, mod in model.named_modules():
        if type(mod).__name__ in PAPER_MODULES:
            modules.setdefault(type(mod).__name__, []).append(mod)
    rows = []
    for cls, mods in modules.items():  # TSA's "10 parameters" are its conv weights
        n = sum(p.numel() for p in mods[0].parameters())
        conv = sum(m.weight.numel() for m in mods[0].modules() if isinstance(m, torch.nn.Conv2d))
        rows.append({"output": f"module {cls} x{len(mods)}",
                     "shape": f"{n:,} parameters each" + (f" ({conv:,} conv weights)" if conv else ""),
                     "loss": PAPER_MODULES[cls]})
    return rows


def model_card(cfg: NotebookConfig, model_preset: str, ds):
    """What a model outputs in training mode and which loss applies to each output.

    Builds the profile's preset of ``model_preset`` (untrained) and runs one training-mode
    forward pass on two blank images of the preset's input size. Rows: each named output
    (``logits`` / ``embeddings``) with its shape and declared loss terms, then the test
    feature's dimension, the papers' modules and the parameter counts.
    """
    import pandas as pd
    import torch

    from reidlab.engine.trainer import build_model
    from reidlab.presets import get_preset

    preset = get_preset(cfg.preset_name(model_preset), **cfg.prof.train_overrides)
    model = build_model(preset, max(2, int(ds.num_train_pids)))
    h, w = preset.input_size
    kp = torch.zeros(2, 18, 3) if getattr(model, "needs_keypoints", False) else None
    model.train()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, h, w), keypoints=kp)
    losses: dict[tuple[str, str], list[str]] = {}
    for t in model.loss_terms:
        kind = "logits" if t.kind == "ce" else "embeddings"
        losses.setdefault((kind, t.output), []).append(f"{t.kind} (x{t.weight:g}, {t.group})")
    rows = [{"output": f"{kind}[{name!r}]", "shape": "x".join(map(str, v.shape[1:])),
             "loss": ", ".join(losses.get((kind, name), [])) or "-"}
            for kind in ("logits", "embeddings") for name, v in out.get(kind, {}).items()]
    n_all = sum(p.numel() for p in model.parameters())
    n_bb = sum(p.numel() for p in model.backbone.parameters()) if hasattr(model, "backbone") else 0
    flip = {"concat": " (x2 with flip concatenation)", "mean": " (flip averaged)"}.get(preset.test_flip or "", "")
    rows.append({"output": "test feature (eval mode)", "shape": f"{model.feature_dim}{flip}", "loss": "-"})
    rows += _module_rows(model)
    rows.append({"output": "parameters", "shape": f"{n_all / 1e6:.2f} M (backbone {n_bb / 1e6:.2f} M, "
                                                  f"head {(n_all - n_bb) / 1e6:.2f} M)", "loss": "-"})
    return pd.DataFrame(rows).set_index("output")
