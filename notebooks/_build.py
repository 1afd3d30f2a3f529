"""Generate the numbered notebooks from this one script (``python notebooks/_build.py``).

The committed ``.ipynb`` files are the product; this script is how they are edited: each
notebook is a list of Markdown and code cells below. Output is clean (no outputs, no
execution counts), with the ``python3`` kernelspec papermill and nbval use, and one cell
tagged ``parameters`` (papermill injects its overrides right after it).

Conventions for the cells:

* narrative first; one idea per section; every figure is followed (or preceded) by how to
  read it;
* code cells are one or two calls into ``reidlab`` (heavy code lives in the package);
* paths are relative to the project root (``reidlab.report`` resolves them), so the
  notebooks run the same from JupyterLab, papermill and nbval;
* a ``Checks`` cell asserts properties of the results (ranges, orderings that must hold by
  construction, figures produced) instead of relying on stored outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(src: str, tags=()):
    c = new_code_cell(src.strip("\n"))
    if tags:
        c.metadata["tags"] = list(tags)
    return c


def params(extra: str = "") -> "nbformat.NotebookNode":
    """The parameters cell: common parameters, then the notebook's own."""
    src = '''
# Parameters (papermill: -p name value). Empty strings / None mean "the profile's default".
import os
profile = os.environ.get("REIDLAB_PROFILE", "demo")  # smoke | demo | full | paper
seed = 0                 # training seed
dataset = ""             # synthreid (default) | market1501 | dukemtmc | msmt17 | cuhk03np | folder
data_root = ""           # dataset folder; relative paths start at the project root
device = ""              # auto | cpu | cuda[:N]
output_dir = ""          # results files and figures (default: the profile's reports/.../results)
'''.strip("\n")
    if extra:
        src += "\n" + extra.strip("\n")
    return code(src, tags=["parameters"])


SETUP_IMPORTS = """
%matplotlib inline
import pandas as pd
from IPython.display import Markdown, display
from reidlab import report, viz, paper_results
from reidlab.viz import attention
pd.set_option("display.precision", 1)
"""

CAVEAT = """
> **How to read the comparison with the paper.** The paper's numbers are a ResNet50-scale
> network, ImageNet-pretrained (except the joint-loss paper's own backbone), trained for
> hours on a GPU on the *real* Market-1501. Ours are a ResNet18-sized network trained from
> scratch for minutes on two CPU cores on the *synthetic* SynthReID set (in the `demo`
> profile). Absolute values are not comparable; what we compare is **orderings and
> mechanisms**: does re-ranking raise mAP more than rank-1? does spatial-temporal scoring
> fix cross-camera confusions? does the part branch help? Run the `paper` profile on a GPU
> with the real dataset to compare values.
"""


def save(name: str, cells: list) -> Path:
    nb = new_notebook(cells=cells)
    for i, c in enumerate(nb.cells):  # stable ids: regenerating gives the same file
        c["id"] = f"c{i:02d}"
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    path = HERE / f"{name}.ipynb"
    nbformat.validate(nb)
    text = nbformat.writes(nb) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


# ======================================================================================
# 01 data exploration
# ======================================================================================

def nb01() -> list:
    return [
        md("""
# 01 · The data: SynthReID and the re-identification protocol

Person re-identification (re-ID) asks: *given a picture of a person seen by one camera
(the **query**), find the other pictures of the same person taken by other cameras (the
**gallery**)*. A re-ID model is trained on identities that never appear at test time; it
has to learn *what makes people different*, not the people themselves.

This notebook looks at the data every other notebook uses, and at the evaluation
conventions that turn a ranking into numbers:

1. the dataset's splits, read with the same reader as Market-1501;
2. a sample sheet: identities across cameras (what makes re-ID hard);
3. statistics: images per identity and per camera, distractors and junk;
4. time: when each camera sees people, the raw material of spatial-temporal re-ranking;
5. body landmarks, used by the pose-guided model (05);
6. the training-time augmentation, batched on tensors.

Nothing is trained here; it runs in seconds.
"""),
        md("""
## Why a synthetic dataset

The papers evaluate on Market-1501, DukeMTMC-reID, CUHK03 and MSMT17. None can be
downloaded automatically (they need a manual request or download), and ImageNet weights
are not available offline either. **SynthReID** is the lab's embedded benchmark: generated
in under a minute, offline, deterministic given a seed, written in the *exact* Market-1501
layout (`bounding_box_train/`, `bounding_box_test/`, `query/`, `gt_bbox/`, names like
`0002_c1s1_000451_03.jpg`) plus a keypoint file. It models what the four papers are about:

* **parts** -- groups of identities share the upper garment and differ only in a local cue
  (trousers, shoes, bag, hat), so part-based features should matter;
* **cameras** -- each camera has its own illumination, colour cast, background, scale and
  detector-box jitter, occlusions and blur;
* **time** -- people walk through a camera topology with directed transit times, which the
  spatial-temporal model can learn (09);
* **landmarks** -- 18 OpenPose-order body keypoints per image, with visibility.

With a real dataset, pass `-p dataset market1501 -p data_root /path/to/Market-1501`:
every cell below works unchanged.
"""),
        params(),
        md("""
## Set-up

`report.setup` resolves the parameters against the profile (the one table of profiles is
`reidlab.report.PROFILES`), seeds every random generator and prints what it resolved.
`report.ensure_dataset` generates the synthetic set on first use (about a minute; the
`smoke` profile uses a small version) and reads it with the Market-1501 reader.
"""),
        code(SETUP_IMPORTS + """
cfg = report.setup("01_data_exploration", profile=profile, seed=seed, dataset=dataset,
                   data_root=data_root, device=device, output_dir=output_dir)
cfg.summary()
"""),
        code("""
ds = report.ensure_dataset(cfg)
ds.summary_frame()
"""),
        md("""
### How to read the summary

One row per split, as the papers' dataset tables print them: identities, images and
cameras. **train** identities are relabelled `0..N-1` (the classifier's classes);
**query** and **gallery** share the *test* identities, disjoint from train. The gallery
also holds **distractors** (identity `0`, people who never appear as a query) and **junk**
boxes (identity `-1`, bad detections) -- both as in Market-1501.
"""),
        md("""
## Identities across cameras

Each row of the sheet is one identity, each column one camera (an empty cell: that person
never passed that camera). Look along a row: the same person changes colour cast,
brightness, scale, viewpoint (front / back / side: a backpack is only visible from behind
and the side) and may be cut off by the detector box or occluded. Look down a column: a
camera's background and lighting are shared by *different* people -- a model that matches
backgrounds or colour casts will confuse them. That is re-ID's core difficulty.
"""),
        code("""
fig_sheet = report.sample_sheet(ds, n_ids=6, seed=cfg.seed)
fig_sheet
"""),
        md("""
## How many images, from which cameras

The table counts images per camera in each split (the same counts are the bars on the
right of the figure); the histogram on the left shows how many images each training
identity has. A re-ID batch samples **P identities x K images** (the PK sampler, K = 4 in
the presets): identities with fewer than K images are sampled with replacement, so the
histogram tells how often that happens. Cameras with few images are the ones a model
learns least about.
"""),
        code("""
stats = report.split_statistics(ds)
stats["per_camera"]
"""),
        code("""
fig_hist = report.images_per_identity(ds)
fig_hist
"""),
        md("""
## The evaluation protocol in one table

For every query the gallery is ranked by distance and scored with the field's conventions
(implemented once, in `reidlab.eval`):

* **junk rule** -- gallery images of the *same identity seen by the same camera* as the
  query are removed for that query (matching them is trivial), and identity `-1` is junk;
  distractors (`0`) stay and count as wrong matches;
* **CMC rank-k** -- the fraction of queries whose first correct match is within the top k;
* **mAP** -- mean over queries of the average precision (standard definition: the mean of
  the precision at each correct match; the Market-official trapezoid rule is available and
  named);
* **mINP** -- mean inverse negative penalty: how far down the *hardest* correct match is.

The table below counts, for each query, how many valid correct matches it has after the
junk rule -- the denominator of its average precision.
"""),
        code("""
stats["protocol"]
"""),
        md("""
## Time: when each camera sees people

Every file name carries a camera, a sequence and a frame number; the reader puts frames on
**one clock per camera** (Market's sequences laid end to end). The plot shows, for the
training identities, the time at which each camera sees each person (one dot per image,
one colour per camera). People walk from camera to camera, so the *difference* between the
times two cameras see the same person follows a distribution per camera pair -- notebook
09 learns it and uses it to re-rank.
"""),
        code("""
fig_time = report.camera_timeline(ds.train, max_ids=40)
fig_time
"""),
        md("""
## Body landmarks

The synthetic set writes 18 landmarks per image (OpenPose / COCO-18 order: nose, neck,
shoulders, elbows, wrists, hips, knees, ankles, eyes, ears), with a visibility flag; real
datasets need a pose estimator's output (see `data/README`). Visible landmarks are drawn as
dots; the boxes are the three body regions (head, trunk, lower limb) the pose-guided model
(05) pools its local features from -- where landmarks are missing it falls back to
pre-defined regions, as the paper does.
"""),
        code("""
fig_kp = report.keypoint_grid(report.spread(ds.query, 6), boxes_fn=report.pose_boxes)
fig_kp
"""),
        md("""
## Training augmentation

Training images are decoded once into a uint8 tensor cache, then augmented *in batches on
tensors*: horizontal flip, zero padding + random crop, random erasing, normalisation. The
grid shows the same images before (top) and after (bottom) one draw of the augmentation --
the erased rectangles teach the model not to rely on any single region (occlusion).
"""),
        code("""
fig_aug = report.augmentation_preview(report.spread(ds.train, 8), seed=cfg.seed)
fig_aug
"""),
        md("""
## Checks

Properties that must hold for any dataset in the Market layout (these cells are what the
notebook tests check, rather than stored outputs).
"""),
        code("""
report.check_dataset(ds)
report.check_figures(fig_sheet, fig_hist, fig_time, fig_kp, fig_aug)
report.save_results(cfg, stats["splits"].assign(group="data", model="dataset", setting="-"))
print("dataset checks passed")
"""),
    ]


# ======================================================================================
# Paper notebooks (02-05): shared structure
# ======================================================================================

def _train_eval_cells(model: str, settings: list[str], *, metric_note: str, extra_fig: list) -> list:
    settings_src = repr(settings)
    return [
        md(f"""
## Train (or reuse a run folder)

`report.ensure_run` trains the profile's preset of `{model}` once and keeps the run folder
(`runs/<profile>/{model}-seed<seed>/`: the exact config, `metrics.csv`, `last.pt` /
`best.pt`). Re-running the notebook -- or the notebooks 06-09, which need the same model --
reuses it. To evaluate a run you trained elsewhere, set the parameter `run_dir`.
Training prints a progress bar per epoch (loss, learning rate, images/s).
"""),
        code(f"""
run = report.ensure_run(cfg, "{model}", run_dir=run_dir)
report.run_summary(run)
"""),
        md("""
### Training curves

One point per epoch (the `demo` profile stops after a fixed number of iterations, so the
last epoch may be partial). Panels, left to right: the total loss; the identification
(cross-entropy) loss group and, when the model has one, the metric (triplet) loss group --
each the weighted sum of its terms; the learning rate (log scale: warm-up, then steps); and
rank-1 / mAP when the run was evaluated during training (the notebooks evaluate after
training instead). The losses should fall; a loss that stalls from the start means the
learning rate or schedule does not suit the model; a triplet loss stuck at its margin (0.3
per term) means the embeddings collapsed.
"""),
        code("""
fig_curves = viz.plot_training_curves(run.path, metrics=report.curve_metrics(run))
fig_curves
"""),
        md(f"""
## Evaluate: with and without re-ranking, spatial-temporal scoring, query expansion

Features are extracted once for query and gallery (flip test-time augmentation as the
preset says); every setting below re-uses them:

* **plain** -- the visual distance only ({metric_note});
* **rerank** -- k-reciprocal re-ranking (Zhong et al. 2017; k1=20, k2=6, lambda=0.3): a
  gallery image is closer if the two images are in each other's nearest neighbours;
* **st** -- the spatial-temporal joint score (09): visual similarity x the probability that
  a person needs this much time between these two cameras, both through a logistic;
* **st+rerank** -- re-ranking on the joint score's distance `2 - 2 * score`;
* **qe** -- average query expansion (alpha-QE: the query is replaced by a weighted mean of
  its top-5 neighbours, alpha = 3);
* **mq** -- multi-query (Market's `gt_bbox`): the query's feature is the mean over the same
  identity's boxes from the same camera.

Metrics are in percent. Read rank-1 as "how often the first answer is right" and mAP as
"how well *all* the correct answers are ranked": re-ranking usually raises mAP more than
rank-1; spatial-temporal scoring removes impossible candidates (wrong camera timing) and
raises rank-1.
"""),
        code(f"""
feats = report.extract(cfg, run, ds)
results = report.evaluate(cfg, feats, settings={settings_src})
results
"""),
        md("""
### What changed, computed from the table

The sentences below are generated from the numbers above (not written in advance), so they
stay true whatever the profile, seed or dataset.
"""),
        code("""
display(Markdown(report.describe_settings(results)))
"""),
        md("""
### CMC curves

One curve per setting: the probability (y, %) that the first correct match is within the
top k (x). A curve that starts higher is better at rank-1; curves that meet at large k
differ only in the order of the first few answers.
"""),
        code("""
fig_cmc = viz.plot_cmc(report.cmc_table(feats, results), max_rank=20)
fig_cmc
"""),
        *extra_fig,
    ]


def _paper_cells(model: str) -> list:
    return [
        md(f"""
## Next to the paper

Our table (this run) beside the paper's own numbers for the same evaluation settings, from
`reidlab.paper_results` (transcribed from the paper's tables). The `source` column names
the table and row.
"""),
        code(f"""
report.compare_with_paper(results, "{model}")
"""),
        md(CAVEAT),
    ]


def _checks_cells(model: str, figs: str) -> list:
    return [
        md("""
## Checks and results file

Sanity checks on the numbers (every metric in [0, 100]; CMC non-decreasing in k; at least
one valid query). Outside the `smoke` profile the plain rank-1 is printed next to the
rank-1 a *random* ranking would get on this very gallery (computed from the labels), with a
warning when the model is not above it. Then the results are written to `output_dir` as
JSON and CSV for the report's `index.html`.
"""),
        code(f"""
report.check_results(results, cfg, feats)
assert all(f is not None for f in ({figs}))
path = report.save_results(cfg, results.assign(model="{model}", group="main"))
print("results written:", report.short_path(path))
"""),
    ]


# ======================================================================================
# 02 PFN
# ======================================================================================

def nb02() -> list:
    return [
        md("""
# 02 · PFN -- Part-based Fusion Network (+ spatial-temporal re-ranking)

*Prakayaphun & Usanavasin, Part-based Fusion Feature Learning for Person Re-Identification.*

## What the paper claims

A person is described by **global** and **local** features together, taken from two depths
of one ResNet50:

* two **global** features: global average pooling of stage 4 (`layer3`) and of stage 5
  (`layer4`);
* six **local** features: stage 5 split into **6 horizontal stripes** (part-based average
  pooling, as PCB);
* each of the 8 features goes through a 1x1 conv + BN + ReLU to 512-d, then BN + a
  classifier;
* losses: cross-entropy with **label smoothing** (epsilon 0.1, Eq. 1) on all eight,
  **batch-hard triplet** (margin 0.3, Eq. 2) on the two global ones;
* test feature: the concatenation of all eight (8 x 512 = 4096-d), concatenated with the
  feature of the horizontally **flipped** image.

Recipe: 384x192, ImageNet ResNet50, Adam 3.5e-4 (x0.1 at epochs 40 and 70, 160 epochs),
P=16 x K=4, flip + pad/crop + random erasing. On Market-1501 it reports **95.0 rank-1 /
87.4 mAP**, and with **spatial-temporal** information (Wang et al. 2019) **98.0 / 89.0**:
camera-time information fixes most remaining rank-1 errors.
"""),
        md("""
## What we reproduce, and what differs

* **Same architecture and losses**, built by `reidlab.models.create_model("pfn", ...)`:
  two global + six stripe features, 1x1 reductions to 512-d, label-smoothing CE on all,
  batch-hard triplet on the global ones, flip-concatenated test feature.
* **Smaller and shorter** (profile `demo`): a ResNet18-sized backbone **from scratch** (no
  ImageNet weights offline), 128x64 input (the synthetic images' native size), bf16
  autocast on CPU, a few minutes of training instead of 160 epochs. Expect far lower
  absolute numbers.
* **Synthetic data**: SynthReID (01) instead of Market-1501; its cameras and transit times
  are known to the generator, so the spatial-temporal model has a real signal to learn.
* The `paper` profile runs the paper's recipe (ResNet50, 384x192, 160 epochs) on a real
  dataset and a GPU.
"""),
        params('''
preset = "pfn"           # paper preset; the profile picks its scale (pfn-cpu-demo, pfn-smoke, pfn-paper)
max_iters = None         # training iterations (None: the profile's budget)
epochs = None            # training epochs when max_iters is None (None: the preset's)
run_dir = ""             # evaluate an existing run folder instead of training
'''),
        md("## Set-up"),
        code(SETUP_IMPORTS + """
cfg = report.setup("02_pfn", profile=profile, seed=seed, dataset=dataset, data_root=data_root,
                   device=device, output_dir=output_dir, preset=preset, epochs=epochs, max_iters=max_iters)
ds = report.ensure_dataset(cfg)
cfg.summary()
"""),
        md("""
## The model at a glance

One row per named output of the model in training mode: its shape and the loss the model
declares on it (`ce` = label-smoothing cross-entropy, `triplet` = batch-hard triplet). The
last rows give the test feature's dimension (before the flip concatenation) and the
parameter count. Check the paper's structure here: 8 classifier heads, 2 triplet terms.
"""),
        code("""
report.model_card(cfg, "pfn", ds)
"""),
        *_train_eval_cells("pfn", ["plain", "rerank", "st", "st+rerank", "qe"],
                           metric_note="squared euclidean distance, the PFN paper's choice",
                           extra_fig=[
            md("""
### Which stripes match

For the first query and its best-ranked correct match: the two images with the stripe
boundaries, and one bar per PFN feature (the two global features, then the six stripes top
to bottom) giving its additive share of the cosine similarity of the concatenated test
features (the shares sum to the similarity in the title). Each bar is annotated with that
feature's own cosine. A short bar or a low cosine marks the part where the two images
differ -- on SynthReID often the lower garment, the shoes or a bag.
"""),
            code("""
q = report.model_input(feats, ds.query[0])
match = report.model_input(feats, ds.gallery[report.best_gallery(feats, 0)])
fig_parts = attention.plot_stripe_contribution(feats.model, q[0], match[0])
fig_parts
"""),
        ]),
        *_paper_cells("pfn"),
        *_checks_cells("pfn", "fig_curves, fig_cmc, fig_parts"),
    ]


# ======================================================================================
# 03 MGWP
# ======================================================================================

def nb03() -> list:
    return [
        md("""
# 03 · MGWP -- Multi-scale Global feature and Weight-driven Part feature

*Tang, Yan, Chen, Shao, Wang, Wang, Person Re-Identification Based on Multi-Scale Global
Feature and Weight-Driven Part Feature, AI Communications 2022.*

## What the paper claims

A ResNet50 with three additions, each claimed to help (its ablation tables):

1. **Non-local blocks** after stage 1 and stage 2: every position attends to every other
   position, so early features see the whole body (initialised as identity).
2. A **multi-scale global module** on `layer4`: four Inception-style branches (1x1; 1x1->5x5;
   1x1->3x3->3x3; avg-pool->1x1), each followed by a **tiny spatial attention** (TSA:
   channel mean -> 3x3 stride-2 conv -> x2 upsampling -> 1x1 conv -> sigmoid, *10 weights*),
   concatenated, reduced, and summed residually with `layer4`.
3. **Weight-driven part fusion**: six parts `p_i`; each part's "remainder" `t_i` is the sum
   of its one or two neighbours; two FC layers + sigmoid learn how much of `p_i` and of
   `t_i` to keep -- parts see their context.

Losses: triplet on the average- and max-pooled stage-3 and stage-4 features, cross-entropy
on their sums, on the multi-scale feature and on every fused part. The paper evaluates with
k-reciprocal **re-ranking** and **multi-query**: on Market-1501, 96.1 rank-1 / 90.3 mAP
(the only number that survived the text extraction of the paper).
"""),
        md("""
## What we reproduce, and what differs

* The three modules and the loss layout as the paper describes them, switchable one by one
  (06 ablates them). The published code's part fusion uses fixed weights and never runs
  (a bug, see `papers/README`); **we implement the paper's learned weights**, and say so.
* TSA: the published code puts a ReLU before the sigmoid, which limits the attention to
  [0.5, 1); the model's docstring documents the choice taken.
* ResNet18-sized, 128x64, from scratch, minutes on a CPU (`demo`); the branch widths scale
  with the backbone's channels.
* Multi-query uses the synthetic set's `gt_bbox/` folder, built like Market's.
"""),
        params('''
preset = "mgwp"          # paper preset; the profile picks its scale
max_iters = None         # training iterations (None: the profile's budget)
epochs = None            # training epochs when max_iters is None (None: the preset's)
run_dir = ""             # evaluate an existing run folder instead of training
'''),
        md("## Set-up"),
        code(SETUP_IMPORTS + """
cfg = report.setup("03_mgwp", profile=profile, seed=seed, dataset=dataset, data_root=data_root,
                   device=device, output_dir=output_dir, preset=preset, epochs=epochs, max_iters=max_iters)
ds = report.ensure_dataset(cfg)
cfg.summary()
"""),
        md("""
## The model at a glance

The outputs and their losses: the stage-3 / stage-4 average- and max-pooled embeddings
(triplet), their sums (cross-entropy), the multi-scale global head and the six fused parts
(cross-entropy each). The module rows count the paper's building blocks: two non-local
blocks, one multi-scale module with four TSAs -- each with the paper's "10 parameters"
(conv weights; its two BatchNorms add 4 more) -- and the weight-driven fusion.
"""),
        code("""
report.model_card(cfg, "mgwp", ds)
"""),
        *_train_eval_cells("mgwp", ["plain", "rerank", "st", "st+rerank", "mq", "mq+rerank", "qe"],
                           metric_note="squared euclidean distance, the paper's 'L2'",
                           extra_fig=[
            md("""
### The model's own attention

First figure: the query image and the four TSA maps of the multi-scale branches, on an
absolute 0..1 scale (the factor each position is multiplied by; computed on the small
`layer4` grid and upsampled). A useful TSA lights the person, not the background; a map
uniformly near one value means the attention does not discriminate (yet).

Second figure: the last non-local block's affinity from one position (marked, upper body)
to every other position -- where that position gathers features from. Uniform attention
would be 1/(number of positions); a useful block links the marked position to the same
person's other body parts.
"""),
            code("""
x, _ = report.model_input(feats, ds.query[0])
fig_attn = attention.plot_tsa_maps(feats.model, x)
display(fig_attn)
fig_nl = attention.plot_nonlocal_affinity(feats.model, x)
fig_nl
fig_attn
"""),
        ]),
        *_paper_cells("mgwp"),
        *_checks_cells("mgwp", "fig_curves, fig_cmc, fig_attn"),
    ]


# ======================================================================================
# 04 LGEU
# ======================================================================================

def nb04() -> list:
    return [
        md("""
# 04 · LGEU -- Local-Global Extraction Unit

*Wang, Qing, Xu, Cai, Jin, Ren, Local-Global Extraction Unit for Person Re-identification.*

## What the paper claims

Global average pooling treats every row of the last feature map alike. LGEU replaces it:

1. **local selection** -- the map is cut into K = 4 horizontal parts; each part's average
   feature goes through *its own* FC(C -> C/16) - ReLU - FC(C/16 -> C) - sigmoid branch,
   giving a weight per part and per channel (Eq. 2);
2. each part's rows of the feature map are re-scaled by its weights (Eq. 3);
3. **global fusion** -- global average pooling of the re-scaled map (Eq. 4), softmax loss.

With K = 1 this is a squeeze-and-excitation (SE) unit applied before the pooling; LGEU's
point is that *different body parts need different channels*. Recipe: ResNet50, 256x128,
SGD 0.1 -> 0.01 after 40 of 60 epochs, batch 32, softmax only, **cosine** distance. On
Market-1501 (Table 1): baseline 86.5 / 69.8, SE 89.8 / 74.3, **LGEU 90.0 / 74.5**
(rank-1 / mAP); with re-ranking 91.8 / 88.0 (Table 2).
"""),
        md("""
## What we reproduce, and what differs

* LGEU exactly as Eqs. 1-4 (K = 4, reduction 16), softmax only, cosine distance;
  `create_model("lgeu", ...)`. The baseline and the SE unit (Table 1) are trained in 06.
* ResNet18-sized from scratch at 128x64 on CPU (`demo`): the last feature map has 4 rows at
  this size with the standard strides -- one row per part; the model docstring says how the
  rows are split when H is not a multiple of K.
* Softmax-only training from scratch with a random sampler is the hardest setting for a
  short schedule; read absolute numbers accordingly.
"""),
        params('''
preset = "lgeu"          # paper preset; the profile picks its scale
max_iters = None         # training iterations (None: the profile's budget)
epochs = None            # training epochs when max_iters is None (None: the preset's)
run_dir = ""             # evaluate an existing run folder instead of training
'''),
        md("## Set-up"),
        code(SETUP_IMPORTS + """
cfg = report.setup("04_lgeu", profile=profile, seed=seed, dataset=dataset, data_root=data_root,
                   device=device, output_dir=output_dir, preset=preset, epochs=epochs, max_iters=max_iters)
ds = report.ensure_dataset(cfg)
cfg.summary()
"""),
        md("""
## The model at a glance

LGEU adds K small branches; the module rows show the unit and its K = 4 excitation
branches, each with 2 x C x C/16 weights -- the sizes of the paper's Eq. 2 (omega_1: R x C,
omega_2: C x R).
"""),
        code("""
report.model_card(cfg, "lgeu", ds)
"""),
        *_train_eval_cells("lgeu", ["plain", "rerank", "st", "st+rerank", "qe"],
                           metric_note="cosine distance, the LGEU paper's choice",
                           extra_fig=[
            md("""
### Which parts and channels LGEU boosts

For the first query: the image with its K = 4 parts; the K x C matrix of LGEU weights
(rows = body parts top to bottom, columns = channels sorted by their mean weight); and per
part the mean weight, annotated with the channels that part boosts most relative to the
other parts. Rows that differ show that the unit re-weights channels *per part*, which an
SE unit cannot do; identical rows would mean LGEU collapsed to SE.
"""),
            code("""
fig_weights = attention.plot_lgeu_weights(feats.model, report.model_input(feats, ds.query[0])[0])
fig_weights
"""),
        ]),
        *_paper_cells("lgeu"),
        md("""
The paper's Table 1 (the baseline / SE / LGEU comparison) for reference -- our version of
it is in 06:
"""),
        code("""
paper_results.paper_table("lgeu/table1")
"""),
        *_checks_cells("lgeu", "fig_curves, fig_cmc, fig_weights"),
    ]


# ======================================================================================
# 05 joint loss, pose guided
# ======================================================================================

def nb05() -> list:
    return [
        md("""
# 05 · Joint loss, pose-guided -- global + body-part features

*Liu, Jiang, Zhou, Xu, Person Re-identification with Joint-loss.*

## What the paper claims

Horizontal stripes misalign when the detector box is off; **body landmarks** do not.

1. A pose estimator gives **18 landmarks**; their extremes define three boxes: **head,
   trunk, lower limb** (pre-defined regions where landmarks are missing).
2. An Inception-style backbone (its Table I), **trained from scratch**, feeds a global
   branch and, through **RoI max pooling** of the three boxes on the `conv4_x` map, three
   local branches (256 / 64 / 128 / 128-d, dropout 0.5), concatenated.
3. **Joint loss**: identification (softmax) + a **pose-constrained triplet** loss, weighted
   1 : 0.5, 1 : 1 or 0.5 : 1 (Table IV).

On Market-1501 (Table IV): baseline 79.7 rank-1, global + local 83.1, joint loss about
84.6-84.8 whatever the weighting, the whole architecture **86.1 / 68.0**.
"""),
        md("""
## What we reproduce, and what differs

* The architecture of Tables I-II scaled to 128x64 (the backbone is size-agnostic; Table I's
  219x103 is not a multiple of its strides), landmarks from the synthetic set's keypoint
  file (real datasets: an OpenPose JSON, see `data/README`), RoI max pooling on the
  `conv4_x` map, the joint loss with a preset's weights. The pose-constrained triplet's
  exact definition is lost in the paper's text; the one taken is in `reidlab.losses`.
* Trained in one stage; the paper fine-tunes the joint loss from its softmax baseline.
* From scratch, as the paper -- which on CPU in minutes means low absolute numbers.
"""),
        params('''
preset = "jlpose"        # jlpose (1:1), jlpose-1-0.5, jlpose-0.5-1, jlpose-softmax
max_iters = None         # training iterations (None: the profile's budget)
epochs = None            # training epochs when max_iters is None (None: the preset's)
run_dir = ""             # evaluate an existing run folder instead of training
'''),
        md("## Set-up"),
        code(SETUP_IMPORTS + """
cfg = report.setup("05_jlpose", profile=profile, seed=seed, dataset=dataset, data_root=data_root,
                   device=device, output_dir=output_dir, preset=preset, epochs=epochs, max_iters=max_iters)
ds = report.ensure_dataset(cfg)
cfg.summary()
"""),
        md("""
## From landmarks to body-part boxes

Each image with its landmarks (dots) and the three boxes the model pools: head (red),
trunk (blue), lower limb (green). Where landmarks are hidden (occlusion, cut-off boxes)
the pre-defined regions take over -- look for boxes that still sit sensibly on images with
few dots.
"""),
        code("""
fig_boxes = report.keypoint_grid(report.spread(ds.query, 8), boxes_fn=report.pose_boxes)
fig_boxes
"""),
        md("""
## The model at a glance

One identification head and one pose-constrained triplet term on the concatenated
feature: global + head + trunk + lower-limb branches, 256 + 64 + 128 + 128 = 576
dimensions (the paper's Table II).
"""),
        code("""
report.model_card(cfg, preset, ds)
"""),
        *_train_eval_cells(
            "jlpose", ["plain", "rerank", "st", "st+rerank", "qe"],
            metric_note="squared euclidean distance",
            extra_fig=[]),
        *_paper_cells("jlpose"),
        md("The paper's Table IV (our version of it is in 06):"),
        code("""
paper_results.paper_table("jlpose/table4")
"""),
        *_checks_cells("jlpose", "fig_curves, fig_cmc, fig_boxes"),
    ]


# ======================================================================================
# 06 ablations
# ======================================================================================

def _ablation_section(study: str, title: str, intro: str, paper_key: str | None, paper_text: str) -> list:
    cells = [md(f"## {title}\n\n{intro.strip()}")]
    if paper_key:
        cells += [md(paper_text), code(f'paper_results.paper_table("{paper_key}")')]
    else:
        cells += [md(paper_text)]
    cells += [
        md("""
**Ours.** Each variant is trained with the same budget and seeds (see the set-up table),
evaluated on the same split; with several seeds a cell reads *mean ± std (n seeds)*.
"""),
        code(f"""
abl_{study} = report.run_ablation(cfg, "{study}")
report.ablation_table(abl_{study})
"""),
        code(f"""
display(Markdown(report.ablation_observations(abl_{study}, "{study}")))
"""),
    ]
    return cells


def nb06() -> list:
    return [
        md("""
# 06 · Ablations -- does each paper's ingredient help here?

Each paper supports its design with an ablation table: remove one ingredient, retrain,
compare. This notebook regenerates those tables on the embedded dataset with the small CPU
models, **variant by variant with identical budgets and seeds**, and says -- computed from
the numbers, not written in advance -- whether the paper's ordering holds here.

| study | variants | the paper's table |
|---|---|---|
| PFN | global only / local (stripes) only / global + local; + spatial-temporal | (ordering stated in the text) |
| MGWP | full, without non-local, without multi-scale global, without TSA, without weight-driven fusion; number of parts | captions only (values lost in extraction) |
| LGEU | plain baseline / SE unit / LGEU | Table 1 |
| Joint loss | softmax only / joint 1:0.5, 1:1, 0.5:1; global vs global + local | Table IV |

**How to read a result.** One seed of a short CPU training has run-to-run noise of
several points; the `full` profile repeats every variant with three seeds and prints
mean ± std. Treat differences smaller than the spread (or than ~2 points with one seed)
as *no evidence either way*. A paper's ordering not reproduced here is a finding about this
setting (small model, from scratch, synthetic data), not a verdict on the paper.
"""),
        params('''
studies = ""             # comma-separated subset of pfn,mgwp,lgeu,jlpose ("": the profile's; demo: lgeu)
max_iters = None         # iterations per variant (None: the same budget as the model's main run)
'''),
        md("""
## Set-up

The profile fixes the number of seeds (`ablation_num_seeds`: the notebook's `seed`,
`seed + 1`, ...), which studies and variants run
(`ablation_studies`, `ablation_scope`) and the budget: every variant trains exactly as long
as the model's main run in 02-05, so the full-model variant *is* that run (reused, not
retrained). The `demo` profile fits the 20-minute budget of `make demo` by running one seed
of the cheapest study (LGEU: ResNet18-sized softmax models); the PFN, MGWP and joint-loss
studies print "not run" -- run them with `-p studies pfn,mgwp,lgeu,jlpose` (each adds a
few trainings as long as its main run) or in the `full` profile, which runs every
variant (including the number of MGWP parts) with three seeds. The `smoke` profile runs two
variants per study, only to check that the code runs. Runs are kept under
`runs/<profile>/` and reused. The table below is the plan.
"""),
        code(SETUP_IMPORTS + """
cfg = report.setup("06_ablations", profile=profile, seed=seed, dataset=dataset, data_root=data_root,
                   device=device, output_dir=output_dir, max_iters=max_iters, studies=studies)
ds = report.ensure_dataset(cfg)
report.ablation_plan(cfg)
"""),
        *_ablation_section(
            "pfn", "PFN: global, local, both (+ spatial-temporal)",
            """
PFN's claim is that **global and local features are complementary**: the concatenation
beats either alone, and spatial-temporal scoring adds on top. Variants: only the two
global features, only the six stripes, both (the full model); each evaluated plain and with
the spatial-temporal joint score (`st`).
""", "pfn/table1",
            """
**The paper.** No separate ablation table; its Table I contains the relevant rows: a
global-only model (Bag of Tricks, 94.5 / 85.9), a stripes-only model (PCB+RPP, 93.8 /
77.4), PFN (95.0 / 87.4) and PFN + ST (98.0 / 89.0):
"""),
        *_ablation_section(
            "mgwp", "MGWP: non-local, multi-scale global, TSA, weight-driven fusion, number of parts",
            """
MGWP claims each of its modules adds accuracy. Variants: the full model, then the full
model **without** one module at a time (non-local blocks, multi-scale global module, its
tiny spatial attention, weight-driven part fusion), and the number of parts.
""", "mgwp/text",
            """
**The paper.** Its ablation tables (effect of each module; of each branch; of TSA; of the
part fusion; of the number of parts) lost their values in the text extraction; only the
captions survive ("it is observed that the model performance is optimal when the number of
[parts is 6]"). The one surviving number is the full model with multi-query and
re-ranking:
"""),
        *_ablation_section(
            "lgeu", "LGEU: plain baseline vs SE unit vs LGEU",
            """
LGEU's claim: replacing global average pooling with part-wise channel re-weighting beats
both the plain pooling and an SE unit in the same place (Table 1), all trained with the
same softmax recipe and evaluated with cosine distance.
""", "lgeu/table1",
            """
**The paper** (Table 1, no re-ranking): LGEU > SE > baseline on all three datasets, by
0.2-3.3 rank-1 points between LGEU and SE:
"""),
        *_ablation_section(
            "jlpose", "Joint loss: softmax only, the three weightings; global vs global + local",
            """
The joint-loss paper's Table IV: a softmax-only **baseline** (global branch only), adding
the pose-guided local branches (**global + local**), then the joint loss with weights
identification : triplet = 1 : 0.5, 1 : 1, 0.5 : 1.
""", "jlpose/table4",
            """
**The paper** (Table IV, Market-1501): baseline 79.7 < global + local 83.1 < joint loss
84.6-84.8 (the three weightings within 0.3 points of each other) < whole architecture
86.1:
"""),
        md("""
## Summary

All variants of all studies in one table (mean over seeds), then the results file for the
report.
"""),
        code("""
ablations = report.concat_ablations(abl_pfn, abl_mgwp, abl_lgeu, abl_jlpose)
report.ablation_table(ablations)
"""),
        md("""
## Checks

Every variant produced metrics in range; a variant evaluated with spatial-temporal scoring
has its plain row too; the observations above were computed for every study run.
"""),
        code("""
report.check_ablations(ablations, cfg)
path = report.save_results(cfg, ablations, extra={"observations": report.ablation_observations(ablations, None, as_list=True)})
print("results written:", report.short_path(path))
"""),
    ]


# ======================================================================================
# 07 activation maps
# ======================================================================================

def nb07() -> list:
    return [
        md("""
# 07 · Activation maps -- why does the model match these two people?

A re-ID model outputs a distance; Grad-CAM shows *which pixels* that decision depends on.
This notebook uses the `grad-cam` package (`pytorch_grad_cam`) through `reidlab.viz`:

1. **identity Grad-CAM** -- the evidence for one identity logit of a classifier head;
2. **similarity Grad-CAM** -- the evidence for the *similarity between a query embedding and
   a gallery embedding*: "why does the model think these two are the same person?";
3. **per-part maps** for the part models (PFN stripes, MGWP parts, LGEU parts, jlpose boxes);
4. the models' **own attention**: MGWP's tiny spatial attention and non-local affinity,
   LGEU's part x channel weights, jlpose's landmark boxes.

It uses the runs trained by 02-05 (reused from `runs/<profile>/`; trained if missing).
"""),
        params('''
cam_method = "gradcam"   # any pytorch_grad_cam method: gradcam, gradcam++, hirescam, scorecam, eigencam, ...
model_name = "pfn"       # model for sections 1-3: pfn, mgwp, lgeu, jlpose
query_index = 0          # which query image to explain
'''),
        md("## Set-up"),
        code(SETUP_IMPORTS + """
cfg = report.setup("07_activation_maps", profile=profile, seed=seed, dataset=dataset, data_root=data_root,
                   device=device, output_dir=output_dir, cam_method=cam_method)
ds = report.ensure_dataset(cfg)
run = report.ensure_run(cfg, model_name)
feats = report.extract(cfg, run, ds)
model = feats.model
q = report.model_input(feats, ds.query[query_index])                                   # (image, landmarks)
match = report.model_input(feats, ds.gallery[report.best_gallery(feats, query_index)])
wrong = report.model_input(feats, ds.gallery[report.best_gallery(feats, query_index, correct=False)])
"""),
        md("""
## 1 · Identity Grad-CAM

For a **training** image (the classifier knows its identity), the map of the evidence for
the image's own identity logit of the first classifier head, overlaid on the image (red =
strong); the title gives the logit and its probability. A model that learned people lights
the body -- garments, bag, shoes; one that learned shortcuts lights the background or the
image border.
"""),
        code("""
x, kp = report.model_input(feats, ds.train[0])
fig_id = viz.gradcam_identity(model, x, target_class=ds.train[0].pid, method=cam_method, keypoints=kp)
fig_id
"""),
        md("""
## 2 · Similarity Grad-CAM: query, best match, and a look-alike

Each figure: the query, a gallery image, and the two heat maps of the *similarity* of
their test features (the gradient of their cosine similarity, one side held fixed, with
respect to each image's feature map); the title gives the similarity. First figure: the
query's best-ranked correct match -- the regions that make them similar. Second figure:
the best-ranked *wrong* identity -- the regions that fooled the model (on SynthReID,
usually the shared upper garment of a look-alike group). Compare the two similarities: the
margin between them is what training pushes apart.
"""),
        code("""
fig_sim = viz.gradcam_similarity(model, q[0], match[0], method=cam_method, query_keypoints=q[1],
                                 gallery_keypoints=match[1], labels=("query", "best match"))
display(fig_sim)
fig_sim_wrong = viz.gradcam_similarity(model, q[0], wrong[0], method=cam_method, query_keypoints=q[1],
                                       gallery_keypoints=wrong[1], labels=("query", "look-alike"))
fig_sim_wrong
"""),
        md("""
## 3 · Per-part maps

For part models, one map per part feature (for PFN: the two global features and the six
stripes), each explaining that part's cosine similarity to the same part of the best
match (score in the title). Each stripe's map should stay inside its own horizontal band:
stripes pool a band of the last feature map but their receptive field is the whole image,
so a stripe "looking" elsewhere shows how much context leaks into a part. This view uses
HiResCAM, which keeps the map faithful to each part's own pooled positions (plain Grad-CAM
averages the gradients over the map first).
"""),
        code("""
fig_parts = viz.gradcam_parts(model, q[0], match[0], keypoints=q[1], other_keypoints=match[1])
fig_parts
"""),
        md("""
## 4 · The models' own attention

Grad-CAM is a post-hoc explanation; some models compute attention themselves. MGWP (03):
the four TSA maps of its multi-scale branches and the non-local affinity of one position.
LGEU (04): the part x channel weights. jlpose (05): the landmark boxes it pools. They are
shown for the runs of 03-05 (trained here if missing).
"""),
        code("""
own = report.model_attention_figures(cfg, ds, models=("mgwp", "lgeu", "jlpose"), query_index=query_index)
for name, fig in own.items():
    display(Markdown(f"**{name}**"), fig)
"""),
        md("""
## Methods compared

The same similarity explained by several CAM methods of the package (Grad-CAM, Grad-CAM++,
HiResCAM, EigenCAM): methods that agree point to a robust explanation; a method that
disagrees is telling more about itself than about the model.
"""),
        code("""
fig_methods = {m: viz.gradcam_similarity(model, q[0], match[0], method=m, query_keypoints=q[1],
                                        gallery_keypoints=match[1]) for m in ("gradcam", "gradcam++", "hirescam", "eigencam")}
for f in fig_methods.values():
    display(f)
"""),
        md("## Checks"),
        code("""
report.check_figures(fig_id, fig_sim, fig_sim_wrong, fig_parts, *fig_methods.values(), *own.values())
print("figures checked:", 4 + len(fig_methods) + len(own))
"""),
    ]


# ======================================================================================
# 08 retrieval gallery
# ======================================================================================

def nb08() -> list:
    return [
        md("""
# 08 · Retrieval galleries -- what the model returns, and how post-processing changes it

Metrics summarise thousands of rankings; a gallery shows a few. For a query: its top-k
gallery images with **green** borders for the same identity and **red** for another one,
the distance and the camera under each image. Then the same query with re-ranking and with
spatial-temporal scoring side by side, and the "worst queries" view sorted by average
precision -- where a model's failures are most instructive.

Uses the PFN run of 02 by default (`model_name` selects another).
"""),
        params('''
model_name = "pfn"       # pfn, mgwp, lgeu, jlpose
topk = None              # images per row (None: the profile's)
n_queries = None         # queries shown (None: the profile's)
'''),
        md("## Set-up"),
        code(SETUP_IMPORTS + """
cfg = report.setup("08_retrieval_gallery", profile=profile, seed=seed, dataset=dataset, data_root=data_root,
                   device=device, output_dir=output_dir, topk=topk, n_queries=n_queries)
ds = report.ensure_dataset(cfg)
run = report.ensure_run(cfg, model_name)
feats = report.extract(cfg, run, ds)
results = report.evaluate(cfg, feats, settings=["plain", "rerank", "st", "st+rerank"])
results
"""),
        md("""
## Top-k for a few queries

Each figure is one query (left) and its top-k gallery images in order, numbered by rank.
Under each image: the distance `d` (smaller = closer) and the camera. Junk images (same
person, same camera) are removed as the protocol removes them, so the ranks shown are the
evaluated ranks. A row that starts red is a rank-1 error; count the greens to see the row's
precision.
"""),
        code("""
k = report.param(cfg, "topk")
fig_topk = [viz.plot_retrieval(feats.distances("plain"), ds.query, ds.gallery, q_index=i, top_k=k)
            for i in report.spread(range(len(ds.query)), report.param(cfg, "n_queries"))]
for f in fig_topk:
    display(f)
"""),
        md("""
## The same query, three ways

Rows: plain visual distance, k-reciprocal re-ranking, spatial-temporal joint score (as the
distance `2 - 2 * score`); each row is labelled with this query's average precision. Watch
the red images: re-ranking pushes down candidates that are *not* mutual neighbours of the
query; spatial-temporal scoring pushes down those seen at a camera and time the query's
person could not have reached. The query shown is the one whose AP differs most between
the three rankings.
"""),
        code("""
qi = report.most_changed_query(feats, ["plain", "rerank", "st"])
fig_cmp = viz.plot_retrieval_comparison({s: feats.distances(s) for s in ["plain", "rerank", "st"]},
                                        ds.query, ds.gallery, q_index=qi, top_k=k)
fig_cmp
"""),
        md("""
## Worst queries

The queries with the lowest average precision (query index and AP at the left of each
row), and at the right the best-ranked correct match with its rank -- where the model
should have put it. Typical causes on SynthReID: look-alike groups sharing the upper
garment, heavy occlusion, a camera with a strong colour cast, a cut-off detector box.
Those are also real datasets' failure modes.
"""),
        code("""
fig_worst = viz.plot_worst_queries(feats.distances("plain"), ds.query, ds.gallery,
                                   n=report.param(cfg, "n_queries"), top_k=k)
fig_worst
"""),
        md("## Checks"),
        code("""
report.check_results(results, cfg, feats)
report.check_figures(*fig_topk, fig_cmp, fig_worst)
print("gallery checks passed")
"""),
    ]


# ======================================================================================
# 09 spatial-temporal
# ======================================================================================

def nb09() -> list:
    return [
        md("""
# 09 · Spatial-temporal re-ranking -- using cameras and time

*Wang, Lai, Huang, Xie, Spatial-Temporal Person Re-identification (AAAI 2019), as used by
PFN (02).*

A camera network has a topology: walking from camera 1 to camera 3 takes minutes, never
seconds, and never happens in the other direction on some paths. The training identities
reveal it. The method:

1. for each training identity and camera, the **mean frame** at which it is seen;
2. per **ordered camera pair**, a histogram of the frame differences (100-frame bins);
3. **Gaussian smoothing** (sigma 50 bins, cut at 3 sigma) and renormalisation: an estimate
   of `p(dt | camera i -> camera j)`;
4. at test time the **joint score** of a query and a gallery image combines the visual
   cosine similarity `s` and the spatial-temporal probability `p` through logistic
   functions: `1/(1+e^(-5 s)) * 1/(1+2 e^(-5 p))`;
5. optionally, k-reciprocal re-ranking on the distance `2 - 2 * score`.

PFN reports 95.0 -> **98.0** rank-1 on Market-1501 with it; the st-ReID paper 98.1 (ST) and
98.0 / 95.5 mAP with re-ranking.
"""),
        params('''
model_name = "pfn"       # whose visual features are combined with the ST model
bin_size = 100           # histogram bin width, frames
sigma = 50               # Gaussian smoothing, in bins
'''),
        md("## Set-up"),
        code(SETUP_IMPORTS + """
from reidlab.viz import spatiotemporal
cfg = report.setup("09_spatial_temporal", profile=profile, seed=seed, dataset=dataset, data_root=data_root,
                   device=device, output_dir=output_dir, bin_size=bin_size, sigma=sigma)
ds = report.ensure_dataset(cfg)
st_model = report.fit_st(cfg, ds)
"""),
        md("""
## Transit-time distributions per camera pair

One panel per ordered camera pair with training evidence (row = from, column = to;
x = transit time in seconds at 25 fps): bars = the raw histogram of the differences of
per-identity mean frames, line = the smoothed density the model uses. Sharp, narrow peaks
are well-defined paths; pairs without a panel are pairs no training identity walked
between -- there the model has nothing to say.
"""),
        code("""
fig_hist = spatiotemporal.plot_st_histograms(st_model)
fig_hist
"""),
        md("""
## Typical transit time between cameras

The camera x camera matrix of the most likely transit time (the smoothed density's peak,
in seconds at 25 fps; grey = no training evidence). Row = from, column = to: asymmetries are
the topology's one-way paths.
"""),
        code("""
fig_matrix = spatiotemporal.plot_st_matrix(st_model)
fig_matrix
"""),
        md("""
## One query: visual, spatial-temporal and joint scores

For one query (the one whose ranking ST changes most): left, every gallery image at (visual
cosine similarity, spatial-temporal probability), coloured by the joint score, true
matches circled. Right, the top gallery images by joint score with their visual factor,
ST factor and product, and their rank by visual similarity alone. Look-alikes seen at an
impossible time get a small ST factor and drop; the true match climbs.
"""),
        code("""
run = report.ensure_run(cfg, model_name)
feats = report.extract(cfg, run, ds)
feats.st_model = st_model
qi = report.most_changed_query(feats, ["plain", "st"])
fig_joint = spatiotemporal.plot_st_joint(**report.st_query_rows(feats, qi))
fig_joint
"""),
        md("""
## What spatial-temporal scoring buys

The evaluation settings of 02 on this model: visual only, ST, re-ranking, ST + re-ranking;
next to the papers' numbers. Then how sensitive the result is to the smoothing width
(sigma, in bins): too narrow over-fits the training transits, too wide forgets the
topology.
"""),
        code("""
results = report.evaluate(cfg, feats, settings=["plain", "st", "rerank", "st+rerank"], st_model=st_model)
report.compare_with_paper(results, "pfn")
"""),
        code("""
display(Markdown(report.describe_settings(results)))
report.st_sensitivity(cfg, feats, ds, sigmas=(5, 20, 50, 100))
"""),
        md(CAVEAT),
        md("## Checks and results file"),
        code("""
report.check_results(results, cfg, feats)
report.check_figures(fig_hist, fig_matrix, fig_joint)
path = report.save_results(cfg, results.assign(model=f"{model_name} (09)", group="st"))
print("results written:", report.short_path(path))
"""),
    ]


BUILDERS = {
    "01_data_exploration": nb01,
    "02_pfn": nb02,
    "03_mgwp": nb03,
    "04_lgeu": nb04,
    "05_jlpose": nb05,
    "06_ablations": nb06,
    "07_activation_maps": nb07,
    "08_retrieval_gallery": nb08,
    "09_spatial_temporal": nb09,
}


def main(argv=None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(BUILDERS)
    for n in names:
        p = save(n, BUILDERS[n]())
        print("wrote", p.relative_to(HERE.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
