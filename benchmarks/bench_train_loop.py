"""Training-loop overhead: the real ``reidlab.engine.train`` loop against the bare
forward + backward + optimiser step on pre-made batches.

Both sides use the same model (``bot`` with a ResNet18 backbone, the cpu-demo recipe:
128x64, bf16 autocast, channels-last, Adam, JointLoss with CE + batch-hard triplet) and the
same batch (P=16 x K=4 = 64 images). The bare side cycles over batches that were sampled and
augmented beforehand and already sit in memory as float tensors; the loop side is ``train()``
itself (PK sampling, uint8 gather from the decode-once cache, batched augmentation, per-iteration
RNG re-seeding, schedule, loss bookkeeping, progress-bar bookkeeping), timed by the loop's own
per-epoch clock (``metrics.csv`` ``time_s``: the iterations of an epoch, without the epoch-end
checkpoint, which is reported separately). The first epoch (warm-up) is dropped.

Target: loop time per image at most 10% above the bare step.

    python benchmarks/bench_train_loop.py            # generates a 96-identity SynthReID set in a temp dir
    python benchmarks/bench_train_loop.py --data data/synthreid --epochs 4
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _bare(preset, ds, n_iters: int, n_batches: int, seed: int = 0) -> tuple[float, float]:
    """Seconds per iteration of forward + loss + backward + step on pre-made batches (best of 2 passes)."""
    from reidlab.data import BatchAugment, ImageCache, PKSampler
    from reidlab.engine.extract import amp_dtype, autocast_context
    from reidlab.engine.trainer import _build_loss, _float_outputs, build_model, build_optimizer

    torch.manual_seed(seed)
    model = build_model(preset, ds.num_train_pids).to(memory_format=torch.channels_last).train()
    opt = build_optimizer(model, preset)
    crit = _build_loss(model, preset, ds.num_train_pids)
    cache = ImageCache(ds.train, size=preset.input_size)
    aug = BatchAugment(size=preset.input_size, flip_p=preset.flip_p, pad=preset.pad, erase_p=preset.erase_p)
    sampler = PKSampler([r.pid for r in ds.train], p=preset.p, k=preset.k, seed=seed)
    pids = torch.tensor([r.pid for r in ds.train])
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for idx in sampler.epoch_batches(0)[:n_batches]:
        idx = torch.as_tensor(idx)
        x, _ = aug(cache[idx], generator=gen)
        batches.append((x.contiguous(memory_format=torch.channels_last), pids[idx]))
    dtype = amp_dtype(preset.amp, torch.device("cpu"))

    def step(x, y):
        with autocast_context(torch.device("cpu"), dtype):
            out = model(x)
        loss, parts = crit(_float_outputs(out), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    for i in range(3):  # warm-up
        step(*batches[i % len(batches)])
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        for i in range(n_iters):
            step(*batches[i % len(batches)])
        best = min(best, (time.perf_counter() - t0) / n_iters)
    # data side alone: gather + augment (what the loop adds per iteration)
    t0 = time.perf_counter()
    for i, idx in enumerate(sampler.epoch_batches(1)[:n_iters]):
        idx = torch.as_tensor(idx)
        gen.manual_seed(i)
        x, _ = aug(cache[idx], generator=gen)
        x = x.contiguous(memory_format=torch.channels_last)
    data_s = (time.perf_counter() - t0) / max(1, min(n_iters, len(sampler.epoch_batches(1))))
    return best, data_s


def _loop(preset, data: Path, epochs: int, work: Path) -> tuple[float, float, float]:
    """Seconds per iteration of train() (epochs 2..), per-epoch checkpoint seconds, iterations/epoch."""
    import pandas as pd

    from reidlab.engine.trainer import train

    out = work / "loop-run"
    train(preset, data=data, out=out, epochs=epochs, evaluate=False, progress=False)
    m = pd.read_csv(out / "metrics.csv")
    steady_iters = float(m["iters"].iloc[-1] - m["iters"].iloc[0])
    per_iter = float(m["time_s"].iloc[1:].sum()) / steady_iters
    ckpt_t0 = time.perf_counter()
    from reidlab.engine import checkpoint as ckpt_io

    state = ckpt_io.load_checkpoint(out / "last.pt")
    ckpt_io.atomic_save(state, work / "probe.pt")
    ckpt_s = time.perf_counter() - ckpt_t0
    return per_iter, ckpt_s, float(m["iters"].iloc[0])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="dataset root (default: generate a 96-id SynthReID set)")
    ap.add_argument("--epochs", type=int, default=4, help="loop epochs (the first is warm-up)")
    ap.add_argument("--iters", type=int, default=12, help="bare iterations per timing pass")
    args = ap.parse_args(argv)

    from reidlab.data import load_dataset
    from reidlab.presets import get_preset

    preset = get_preset("bot-cpu-demo", ckpt_every_iters=0, warmup_epochs=0.0)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.data:
            data = Path(args.data)
        else:
            from reidlab.data.synthetic import SynthConfig, generate

            data = generate(work / "synth", SynthConfig.small(num_train_ids=96, num_test_ids=8, num_distractors=5, num_junk=5))
        ds = load_dataset("auto", data)
        bare_s, data_s = _bare(preset, ds, args.iters, n_batches=6)
        loop_s, ckpt_s, it_per_epoch = _loop(preset, data, args.epochs, work)

    b = preset.images_per_batch
    ratio = loop_s / bare_s - 1.0
    print(f"bot/ResNet18, {preset.input_size[0]}x{preset.input_size[1]}, bf16 autocast, channels-last, batch {b} "
          f"(P={preset.p} K={preset.k}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'':38}{'ms/iter':>9}{'img/s':>9}")
    print(f"{'bare fwd+loss+bwd+step (pre-made)':38}{1e3 * bare_s:9.1f}{b / bare_s:9.1f}")
    print(f"{'train() loop (epochs 2..)':38}{1e3 * loop_s:9.1f}{b / loop_s:9.1f}")
    print(f"{'  data alone: gather + augment':38}{1e3 * data_s:9.1f}")
    print(f"loop overhead over bare: {100 * ratio:+.1f}%  (target <= +10%)")
    print(f"epoch-end checkpoint (model + Adam state, atomic): {ckpt_s:.2f} s "
          f"(= {100 * ckpt_s / (it_per_epoch * loop_s):.1f}% of a {it_per_epoch:.0f}-iteration epoch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
