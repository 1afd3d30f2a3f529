"""Evaluation-kernel benchmark at Market-1501 scale on synthetic features.

    .venv/bin/python benchmarks/bench_eval.py                 # everything (torchreid parts need setup_torchreid.sh)
    .venv/bin/python benchmarks/bench_eval.py --skip-canonical-rerank --skip-torchreid   # reidlab only
    .venv/bin/python benchmarks/bench_eval.py --msmt          # + k-reciprocal re-ranking at MSMT17 scale

Data: 3368 queries x 15913 gallery images, 2048-d features; 750 identities with a shared mean per
identity plus a per-camera offset plus noise (so there are real positives and a realistic ranking),
2793 distractors (pid 0), no junk (-1) items (torchreid's Market reader drops them, so both toolkits
rank the same gallery). Compared:

- evaluation: reidlab ``rank_metrics`` (from a given distance matrix), a plain stable-argsort evaluator
  written here, torchreid 0.2.5 ``evaluate_rank`` (Cython, in benchmarks/.venv-torchreid);
  the distance GEMM alone, ``pairwise_distance``, and distance + metrics (two calls, and fused);
- k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3) on the 19281 images: reidlab
  ``k_reciprocal_rerank`` given the three distance matrices, reidlab ``rerank_from_features``,
  torchreid ``re_ranking`` given the same matrices square-rooted (it squares its input, see
  reidlab/eval/rerank.py); each in its own subprocess, time and peak RSS (``ru_maxrss``);
- spatial-temporal scoring: ``STModel.probability`` + ``joint_score`` vs a per-pair Python loop
  (the original's shape), timed on a subset of queries and extrapolated linearly.

Short measurements report the fastest of ``--repeats`` runs, the long ones (re-ranking, the loops)
run once; the machine is shared, so treat absolute numbers as indicative. Peak memory is the
child process's VmHWM.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from reidlab.eval import (STModel, evaluate_features, joint_score, k_reciprocal_rerank,  # noqa: E402
                          pairwise_distance, rank_metrics, rerank_from_features)

TORCHREID_PY = HERE / ".venv-torchreid" / "bin" / "python"


def make_features(nq=3368, ng=15913, dim=2048, nid=750, n_distractors=2793, sep=0.045, seed=0):
    """Market-shaped synthetic features: identity mean + camera offset + noise."""
    g = torch.Generator().manual_seed(seed)
    q_pids = torch.randint(1, nid + 1, (nq,), generator=g)
    g_pids = torch.cat([torch.zeros(n_distractors, dtype=torch.long),
                        torch.randint(1, nid + 1, (ng - n_distractors,), generator=g)])
    q_cams, g_cams = torch.randint(0, 6, (nq,), generator=g), torch.randint(0, 6, (ng,), generator=g)
    means = torch.randn(nid + 1, dim, generator=g) * sep
    means[0] = 0
    cam_off = torch.randn(6, dim, generator=g) * sep * 0.5
    noise = (16.0 / dim) ** 0.5
    qf = means[q_pids] + cam_off[q_cams] + noise * torch.randn(nq, dim, generator=g)
    gf = means[g_pids] + cam_off[g_cams] + noise * torch.randn(ng, dim, generator=g)
    return qf, gf, q_pids, g_pids, q_cams, g_cams


def argsort_evaluator(D: np.ndarray, qp, gp, qc, gc, max_rank=50):
    """Plain evaluator: a full stable argsort of every row, then per-query masks (standard AP, mINP)."""
    order = np.argsort(D, axis=1, kind="stable")
    cmc, aps, inps = np.zeros(max_rank), [], []
    for i in range(D.shape[0]):
        o = order[i]
        keep = ~((gp[o] == qp[i]) & (gc[o] == qc[i])) & (gp[o] != -1)
        good = ((gp[o] == qp[i]) & (gc[o] != qc[i]))[keep]
        r = np.flatnonzero(good) + 1
        if r.size == 0:
            continue
        aps.append(np.mean(np.arange(1, r.size + 1) / r))
        inps.append(r.size / r[-1])
        if r[0] <= max_rank:
            cmc[r[0] - 1:] += 1
    return cmc / len(aps), float(np.mean(aps)), float(np.mean(inps))


def st_loop_reference(distribution: np.ndarray, bin_size: float, qc, qfr, gc, gfr) -> np.ndarray:
    """The original's per-pair Python loop (Wang et al.'s ``evaluate``): numpy scalars, later
    camera first; ``distribution[later, earlier, bin]`` zero-padded past the fitted bins."""
    out = np.zeros((len(qc), len(gc)))
    for i in range(len(qc)):
        score_st = np.zeros(len(gc))
        for j in range(len(gc)):
            if qfr[i] > gfr[j]:
                diff = qfr[i] - gfr[j]
                hist_ = int(diff / bin_size)
                pr = distribution[qc[i]][gc[j]][hist_]
            else:
                diff = gfr[j] - qfr[i]
                hist_ = int(diff / bin_size)
                pr = distribution[gc[j]][qc[i]][hist_]
            score_st[j] = pr
        out[i] = score_st
    return out


def timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t


def maxrss_mb() -> float:
    """Peak resident memory of this process in MB: VmHWM, which starts afresh at exec (ru_maxrss
    would include the parent's RSS at fork time on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_best(repeats: int, fn, *a, **kw):
    """Result of the fastest of ``repeats`` runs and its time (the machine is shared: take the minimum)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        out, t = timed(fn, *a, **kw)
        best = min(best, t)
    return out, best


# ----------------------------------------------------------------------------- child processes
def child(mode: str, work: Path, threads: int) -> None:
    torch.set_num_threads(threads)
    if mode == "rerank-matrices":
        q_g, q_q, g_g = (torch.from_numpy(np.load(work / f"{n}.npy")) for n in ("q_g", "q_q", "g_g"))
        out, sec = timed(k_reciprocal_rerank, q_g, q_q, g_g)
    elif mode == "rerank-features":
        qf, gf = torch.from_numpy(np.load(work / "qf.npy")), torch.from_numpy(np.load(work / "gf.npy"))
        out, sec = timed(rerank_from_features, qf, gf, metric="euclidean")
    elif mode == "rerank-msmt":
        meta = json.loads((work / "msmt.json").read_text())
        g = torch.Generator().manual_seed(1)
        nq, ng, dim = meta["nq"], meta["ng"], meta["dim"]
        means = torch.randn(1041, dim, generator=g) * 0.045
        qf = means[torch.randint(0, 1041, (nq,), generator=g)] + (16.0 / dim) ** 0.5 * torch.randn(nq, dim, generator=g)
        gf = means[torch.randint(0, 1041, (ng,), generator=g)] + (16.0 / dim) ** 0.5 * torch.randn(ng, dim, generator=g)
        out, sec = timed(rerank_from_features, qf, gf, metric="euclidean")
        print(json.dumps({"seconds": sec, "maxrss_mb": maxrss_mb(), "shape": list(out.shape)}))
        return
    else:
        raise SystemExit(f"unknown child mode {mode}")
    np.save(work / f"out_{mode}.npy", out.numpy())
    print(json.dumps({"seconds": sec, "maxrss_mb": maxrss_mb()}))


def run_child(cmd: list[str]) -> dict:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each short measurement (minimum reported)")
    ap.add_argument("--skip-torchreid", action="store_true", help="no torchreid evaluate_rank")
    ap.add_argument("--skip-canonical-rerank", action="store_true", help="no torchreid re_ranking (~90 s, ~9 GB)")
    ap.add_argument("--skip-rerank", action="store_true")
    ap.add_argument("--msmt", action="store_true", help="also rerank_from_features at MSMT17 scale (11659 x 82161)")
    ap.add_argument("--msmt-dim", type=int, default=2048)
    ap.add_argument("--msmt-only", action="store_true", help="only the MSMT17-scale re-ranking run")
    ap.add_argument("--st-loop-queries", type=int, default=30, help="queries timed with the loop reference")
    ap.add_argument("--st-only", action="store_true", help="only the spatial-temporal part")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.work), args.threads)
        return
    torch.set_num_threads(args.threads)
    if args.msmt_only:
        (HERE / "_work").mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=HERE / "_work") as tmp:
            (Path(tmp) / "msmt.json").write_text(json.dumps({"nq": 11659, "ng": 82161, "dim": args.msmt_dim}))
            r = run_child([sys.executable, __file__, "--work", tmp, "--threads", str(args.threads), "--child", "rerank-msmt"])
        print(f"| k-reciprocal re-ranking (MSMT17 scale, 11659 x 82161) | reidlab rerank_from_features "
              f"({args.msmt_dim}-d) | {r['seconds']:.0f} s | peak RSS {r['maxrss_mb'] / 1024:.2f} GB |")
        return
    rows: list[tuple[str, str, str, str]] = []  # (task, implementation, time, note)
    have_tr = TORCHREID_PY.exists() and not args.skip_torchreid
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu count {os.cpu_count()}", flush=True)

    qf, gf, qp, gp, qc, gc = make_features()
    nq, ng = qf.shape[0], gf.shape[0]
    if args.st_only:
        print_table(bench_st(qf, gf, qc, gc, args))
        return
    pairwise_distance(qf[:64], gf[:512])  # warm-up
    rank_metrics(pairwise_distance(qf[:64], gf), qp[:64], gp, qc[:64], gc)

    # ---------------------------------------------------------------- evaluation
    _, t_gemm = timed_best(args.repeats, torch.mm, qf, gf.t())
    D, t_dist = timed_best(args.repeats, pairwise_distance, qf, gf)
    res, t_rank = timed_best(args.repeats, rank_metrics, D, qp, gp, qc, gc)
    fused, t_fused = timed_best(args.repeats, evaluate_features, qf, gf, qp, gp, qc, gc)
    print(res, flush=True)
    Dn = D.numpy()
    (cmc_a, map_a, minp_a), t_argsort = timed(argsort_evaluator, Dn, qp.numpy(), gp.numpy(), qc.numpy(), gc.numpy())
    rows += [
        ("distance", "GEMM alone (torch.mm, fp32)", f"{t_gemm:.2f} s", "the reference for the 1.3x target"),
        ("distance", "reidlab pairwise_distance (squared euclidean)", f"{t_dist:.2f} s", ""),
        ("metrics from distmat", "reidlab rank_metrics", f"{t_rank:.2f} s",
         f"mAP {100 * res.mAP:.2f}, R1 {100 * res.cmc[0]:.2f}, mINP {100 * res.mINP:.2f}"),
        ("metrics from distmat", "plain stable-argsort evaluator (numpy)", f"{t_argsort:.2f} s",
         f"mAP diff {abs(map_a - res.mAP):.1e}, CMC diff {np.abs(cmc_a - res.cmc).max():.1e}, mINP diff {abs(minp_a - res.mINP):.1e}"),
        ("distance + metrics", "reidlab pairwise_distance + rank_metrics", f"{t_dist + t_rank:.2f} s",
         f"{(t_dist + t_rank) / t_gemm:.2f}x the GEMM"),
        ("distance + metrics", "reidlab evaluate_features (fused, chunked)", f"{t_fused:.2f} s",
         f"{t_fused / t_gemm:.2f}x the GEMM; mAP diff {abs(fused.mAP - res.mAP):.1e}"),
    ]
    (HERE / "_work").mkdir(exist_ok=True)  # gitignored
    with tempfile.TemporaryDirectory(dir=HERE / "_work") as tmp:
        work = Path(tmp)
        if have_tr:
            np.savez(work / "eval.npz", distmat=Dn, q_pids=qp.numpy(), g_pids=gp.numpy(), q_camids=qc.numpy(),
                     g_camids=gc.numpy())
            info = run_child([str(TORCHREID_PY), str(HERE / "torchreid_helper.py"), "eval", str(work / "eval.npz"),
                              str(work / "tr_eval.npz"), f"--repeats={args.repeats}"])
            out = np.load(work / "tr_eval.npz")
            kind = "Cython" if info["cython"] else "Python (Cython unavailable)"
            rows.append(("metrics from distmat", f"torchreid 0.2.5 evaluate_rank ({kind})", f"{info['seconds']:.2f} s",
                         f"reidlab {info['seconds'] / t_rank:.1f}x faster; mAP diff {abs(float(out['mAP']) - res.mAP):.1e}, "
                         f"CMC diff {np.abs(out['cmc'] - res.cmc).max():.1e}"))
        print("\n".join(" | ".join(r) for r in rows), flush=True)
        del Dn

        # ------------------------------------------------------------ re-ranking
        if not args.skip_rerank:
            q_q = pairwise_distance(qf, qf)
            q_q = ((q_q + q_q.t()) / 2).fill_diagonal_(0)
            np.save(work / "q_q.npy", q_q.numpy())
            np.save(work / "q_g.npy", D.numpy())
            g_g = pairwise_distance(gf, gf)
            g_g.add_(g_g.t().clone()).mul_(0.5).fill_diagonal_(0)
            np.save(work / "g_g.npy", g_g.numpy())
            del g_g, q_q
            np.save(work / "qf.npy", qf.numpy())
            np.save(work / "gf.npy", gf.numpy())
            me = [sys.executable, __file__, "--work", str(work), "--threads", str(args.threads)]
            r1 = run_child(me + ["--child", "rerank-matrices"])
            out1 = torch.from_numpy(np.load(work / "out_rerank-matrices.npy"))
            rr = rank_metrics(out1, qp, gp, qc, gc)
            rows.append(("k-reciprocal re-ranking (19281 images)", "reidlab k_reciprocal_rerank (3 matrices given)",
                         f"{r1['seconds']:.1f} s", f"peak RSS {r1['maxrss_mb'] / 1024:.2f} GB; mAP {100 * rr.mAP:.2f} "
                         f"(before {100 * res.mAP:.2f}), R1 {100 * rr.cmc[0]:.2f}"))
            r2 = run_child(me + ["--child", "rerank-features"])
            out2 = torch.from_numpy(np.load(work / "out_rerank-features.npy"))
            rows.append(("k-reciprocal re-ranking (19281 images)", "reidlab rerank_from_features (features given)",
                         f"{r2['seconds']:.1f} s", f"peak RSS {r2['maxrss_mb'] / 1024:.2f} GB; max |diff| vs matrices "
                         f"{(out2 - out1).abs().max():.1e}"))
            print("\n".join(" | ".join(r) for r in rows[-2:]), flush=True)
            if TORCHREID_PY.exists() and not args.skip_canonical_rerank:
                for n in ("q_g", "q_q", "g_g"):  # torchreid squares its input: give it sqrt(d)
                    a = np.load(work / f"{n}.npy")
                    np.sqrt(a, out=a)
                    np.save(work / f"{n}_sqrt.npy", a)
                    del a
                np.savez(work / "rr.npz", **{n: np.load(work / f"{n}_sqrt.npy") for n in ("q_g", "q_q", "g_g")})
                for n in ("q_g", "q_q", "g_g"):
                    os.remove(work / f"{n}_sqrt.npy")
                info = run_child([str(TORCHREID_PY), str(HERE / "torchreid_helper.py"), "rerank", str(work / "rr.npz"),
                                  str(work / "tr_rr.npy")])
                out3 = torch.from_numpy(np.load(work / "tr_rr.npy"))
                diff = (out3 - out1).abs()
                rr3 = rank_metrics(out3, qp, gp, qc, gc)
                rows.append(("k-reciprocal re-ranking (19281 images)", "torchreid 0.2.5 re_ranking (sqrt of the matrices)",
                             f"{info['seconds']:.1f} s",
                             f"peak RSS {info['maxrss_mb'] / 1024:.2f} GB; reidlab {info['seconds'] / r1['seconds']:.1f}x faster, "
                             f"{info['maxrss_mb'] / r1['maxrss_mb']:.1f}x less memory; max |diff| {diff.max():.1e}, "
                             f"{int((diff > 1e-4).sum())} of {diff.numel()} entries differ by > 1e-4; mAP {100 * rr3.mAP:.2f}"))
                print(" | ".join(rows[-1]), flush=True)
        if args.msmt:
            (work / "msmt.json").write_text(json.dumps({"nq": 11659, "ng": 82161, "dim": args.msmt_dim}))
            me = [sys.executable, __file__, "--work", str(work), "--threads", str(args.threads)]
            r4 = run_child(me + ["--child", "rerank-msmt"])
            rows.append(("k-reciprocal re-ranking (MSMT17 scale, 93820 images)",
                         f"reidlab rerank_from_features ({args.msmt_dim}-d)", f"{r4['seconds']:.0f} s",
                         f"peak RSS {r4['maxrss_mb'] / 1024:.2f} GB"))
            print(" | ".join(rows[-1]), flush=True)

    rows += bench_st(qf, gf, qc, gc, args)
    print_table(rows)


def print_table(rows) -> None:
    print("\n| task | implementation | time | notes |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def bench_st(qf, gf, qc, gc, args) -> list:
    """Spatial-temporal model on Market-like synthetic records: fit, probability, joint score."""
    nq, ng = qf.shape[0], gf.shape[0]
    rows = []
    # ---------------------------------------------------------------- spatial-temporal
    g = torch.Generator().manual_seed(2)
    n_train, nid_train = 12936, 751
    t_pids = torch.randint(0, nid_train, (n_train,), generator=g)
    t_cams = torch.randint(1, 7, (n_train,), generator=g)
    start = torch.rand(nid_train, generator=g) * 400_000
    delay = torch.rand(7, generator=g) * 20_000
    t_frames = (start[t_pids] + delay[t_cams] + torch.randn(n_train, generator=g) * 3000).clamp(min=0).round().long()
    st, t_fit = timed(STModel.fit, t_pids, t_cams, t_frames)
    q_fr = torch.randint(0, 420_000, (nq,), generator=g)
    g_fr = torch.randint(0, 420_000, (ng,), generator=g)
    qcam, gcam = qc + 1, gc + 1
    p_st, t_prob = timed_best(args.repeats, st.probability, qcam, q_fr, gcam, g_fr)
    sim = 1.0 - pairwise_distance(qf, gf, metric="cosine")
    _, t_joint = timed_best(args.repeats, joint_score, sim, p_st)
    fused, t_score = timed_best(args.repeats, st.score, sim, qcam, q_fr, gcam, g_fr)
    k = args.st_loop_queries
    nb_pad = int(max(q_fr.max(), g_fr.max()) // st.bin_size) + 1
    dist = np.zeros(st.table.shape[:2] + (max(nb_pad, st.num_bins),))
    dist[:, :, :st.num_bins] = st.table.numpy()
    cam_idx = {int(c): i for i, c in enumerate(st.cam_labels.tolist())}
    qci = np.array([cam_idx[int(c)] for c in qcam[:k]])
    gci = np.array([cam_idx[int(c)] for c in gcam])
    ref, t_loop = timed(st_loop_reference, dist, st.bin_size, qci, q_fr[:k].numpy(), gci, g_fr.numpy())
    t_loop_full = t_loop * nq / k
    err = np.abs(ref - p_st[:k].double().numpy()).max()
    err_score = (fused - joint_score(sim, p_st)).abs().max()
    rows += [
        ("ST fit (12936 training images)", "reidlab STModel.fit", f"{t_fit:.3f} s", f"{st.num_bins} bins"),
        ("ST probability 3368 x 15913", "per-pair Python loop (the original's shape)", f"{t_loop_full:.0f} s (extrapolated)",
         f"timed on {k} queries x {ng} ({t_loop:.1f} s) x {nq}/{k}"),
        ("ST probability 3368 x 15913", "reidlab STModel.probability", f"{t_prob:.2f} s",
         f"{t_loop_full / t_prob:.0f}x faster than the loop; max |diff| {err:.1e}"),
        ("ST scoring 3368 x 15913", "reidlab probability + joint_score", f"{t_prob + t_joint:.2f} s",
         f"{t_loop_full / (t_prob + t_joint):.0f}x faster than the loop (which excludes the joint score)"),
        ("ST scoring 3368 x 15913", "reidlab STModel.score (fused)", f"{t_score:.2f} s",
         f"{t_loop_full / t_score:.0f}x faster than the loop; max |diff| vs two-step {err_score:.1e}"),
    ]
    return rows


if __name__ == "__main__":
    main()
