# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · The data: SynthReID and the re-identification protocol
#
# Person re-identification (re-ID) asks: *given a picture of a person seen by one camera
# (the **query**), find the other pictures of the same person taken by other cameras (the
# **gallery**)*. A re-ID model is trained on identities that never appear at test time; it
# has to learn *what makes people different*, not the people themselves.
#
# This notebook looks at the data every other notebook uses, and at the evaluation
# conventions that turn a ranking into numbers:
#
# 1. the dataset's splits, read with the same reader as Market-1501;
# 2. a sample sheet: identities across cameras (what makes re-ID hard);
# 3. statistics: images per identity and per camera, distractors and junk;
# 4. time: when each camera sees people, the raw material of spatial-temporal re-ranking;
# 5. body landmarks, used by the pose-guided model (05);
# 6. the training-time augmentation, batched on tensors.
#
# Nothing is trained here; it runs in seconds.

# %% [markdown]
# ## Why a synthetic dataset
#
# The papers evaluate on Market-1501, DukeMTMC-reID, CUHK03 and MSMT17. None can be
# downloaded automatically (they need a manual request or download), and ImageNet weights
# are not available offline either. **SynthReID** is the lab's embedded benchmark: generated
# in under a minute, offline, deterministic given a seed, written in the *exact* Market-1501
# layout (`bounding_box_train/`, `bounding_box_test/`, `query/`, `gt_bbox/`, names like
# `0002_c1s1_000451_03.jpg`) plus a keypoint file. It models what the four papers are about:
#
# * **parts** -- groups of identities share the upper garment and differ only in a local cue
#   (trousers, shoes, bag, hat), so part-based features should matter;
# * **cameras** -- each camera has its own illumination, colour cast, background, scale and
#   detector-box jitter, occlusions and blur;
# * **time** -- people walk through a camera topology with directed transit times, which the
#   spatial-temporal model can learn (09);
# * **landmarks** -- 18 OpenPose-order body keypoints per image, with visibility.
#
# With a real dataset, pass `-p dataset market1501 -p data_root /path/to/Market-1501`:
# every cell below works unchanged.

# %% tags=["parameters"]
# Parameters (papermill: -p name value). Empty strings / None mean "the profile's default".
import os
profile = os.environ.get("REIDLAB_PROFILE", "demo")  # smoke | demo | full | paper
seed = 0                 # training seed
dataset = ""             # synthreid (default) | market1501 | dukemtmc | msmt17 | cuhk03np | folder
data_root = ""           # dataset folder; relative paths start at the project root
device = ""              # auto | cpu | cuda[:N]
output_dir = ""          # results files and figures (default: the profile's reports/.../results)

# %% [markdown]
# ## Set-up
#
# `lab.setup` resolves the parameters against the profile (the one table of profiles is
# `reidlab.lab.PROFILES`), seeds every random generator, generates the synthetic set on
# first use (about a minute; the `smoke` profile uses a small version) and reads it with
# `reidlab.data.load_dataset` and the Market-1501 reader. The table shows what it resolved.

# %%
# %matplotlib inline
import pandas as pd
from reidlab import lab, viz

cfg, ds = lab.setup("01_data_exploration", profile=profile, seed=seed, dataset=dataset,
                    data_root=data_root, device=device, output_dir=output_dir)
cfg.summary()

# %%
ds.summary_frame()

# %% [markdown]
# ### How to read the summary
#
# One row per split, as the papers' dataset tables print them: identities, images and
# cameras. **train** identities are relabelled `0..N-1` (the classifier's classes);
# **query** and **gallery** share the *test* identities, disjoint from train. The gallery
# also holds **distractors** (identity `0`, people who never appear as a query) and **junk**
# boxes (identity `-1`, bad detections) -- both as in Market-1501.

# %% [markdown]
# ## Identities across cameras
#
# Each row of the sheet is one identity, each column one camera (an empty cell: that person
# never passed that camera). Look along a row: the same person changes colour cast,
# brightness, scale, viewpoint (front / back / side: a backpack is only visible from behind
# and the side) and may be cut off by the detector box or occluded. Look down a column: a
# camera's background and lighting are shared by *different* people -- a model that matches
# backgrounds or colour casts will confuse them. That is re-ID's core difficulty.

# %%
fig_sheet = viz.sample_sheet(ds, n_ids=6, seed=cfg.seed)
fig_sheet

# %% [markdown]
# ## How many images, from which cameras
#
# The table counts images per camera in each split (the same counts are the bars on the
# right of the figure); the histogram on the left shows how many images each training
# identity has. A re-ID batch samples **P identities x K images** (the PK sampler, K = 4 in
# the presets): identities with fewer than K images are sampled with replacement, so the
# histogram tells how often that happens. Cameras with few images are the ones a model
# learns least about.

# %%
stats = lab.split_statistics(ds)
stats["per_camera"]

# %%
fig_hist = viz.images_per_identity(ds)
fig_hist

# %% [markdown]
# ## The evaluation protocol in one table
#
# For every query the gallery is ranked by distance and scored with the field's conventions
# (implemented once, in `reidlab.eval`):
#
# * **junk rule** -- gallery images of the *same identity seen by the same camera* as the
#   query are removed for that query (matching them is trivial), and identity `-1` is junk;
#   distractors (`0`) stay and count as wrong matches;
# * **CMC rank-k** -- the fraction of queries whose first correct match is within the top k;
# * **mAP** -- mean over queries of the average precision (standard definition: the mean of
#   the precision at each correct match; the Market-official trapezoid rule is available and
#   named);
# * **mINP** -- mean inverse negative penalty: how far down the *hardest* correct match is.
#
# The junk rule is one function, `reidlab.eval.valid_gallery_mask`; every ranking and every
# metric goes through it. For the first query:

# %%
import numpy as np
from reidlab.eval import valid_gallery_mask

g_pids = np.array([r.pid for r in ds.gallery])
g_cams = np.array([r.camid for r in ds.gallery])
q = ds.query[0]
kept = valid_gallery_mask(q.pid, q.camid, g_pids, g_cams)
print(f"query 0 (identity {q.pid}, camera c{q.camid + 1}): {kept.sum()} of {len(ds.gallery)} gallery images "
      f"are ranked; {(kept & (g_pids == q.pid)).sum()} of them are correct matches "
      f"({((g_pids == q.pid) & ~kept).sum()} same-camera images of the same person removed)")

# %% [markdown]
# The table below counts, for each query, how many valid correct matches it has after the
# junk rule -- the denominator of its average precision -- and the rank-1 a *random*
# ranking would get on this gallery (a fraction), the floor every model must beat.

# %%
stats["protocol"]

# %% [markdown]
# ## Time: when each camera sees people
#
# Every file name carries a camera, a sequence and a frame number; the reader puts frames on
# **one clock per camera** (Market's sequences laid end to end). The plot shows, for the
# training identities, the time at which each camera sees each person (one dot per image,
# one colour per camera). People walk from camera to camera, so the *difference* between the
# times two cameras see the same person follows a distribution per camera pair -- notebook
# 09 learns it and uses it to re-rank.

# %%
fig_time = viz.camera_timeline(ds.train, max_ids=40)
fig_time

# %% [markdown]
# ## Body landmarks
#
# The synthetic set writes 18 landmarks per image (OpenPose / COCO-18 order: nose, neck,
# shoulders, elbows, wrists, hips, knees, ankles, eyes, ears), with a visibility flag; real
# datasets need a pose estimator's output (see `data/README`). Visible landmarks are drawn as
# dots; the boxes are the three body regions (head, trunk, lower limb) the pose-guided model
# (05) pools its local features from (`viz.keypoint_grid` draws them with the model's own
# `reidlab.models.jlpose.part_boxes_from_keypoints`) -- where landmarks are missing it falls
# back to pre-defined regions, as the paper does.

# %%
fig_kp = viz.keypoint_grid(viz.spread(ds.query, 6))
fig_kp

# %% [markdown]
# ## Training augmentation
#
# Training images are decoded once into a uint8 tensor cache, then augmented *in batches on
# tensors*: horizontal flip, zero padding + random crop, random erasing, normalisation. The
# grid shows the same images before (top) and after (bottom) one draw of the augmentation --
# the erased rectangles teach the model not to rely on any single region (occlusion).

# %%
fig_aug = viz.augmentation_preview(viz.spread(ds.train, 8), seed=cfg.seed)
fig_aug

# %% [markdown]
# ## Checks
#
# Properties that must hold for any dataset in the Market layout (these cells are what the
# notebook tests check, rather than stored outputs).

# %%
lab.check_dataset(ds)
lab.check_figures(fig_sheet, fig_hist, fig_time, fig_kp, fig_aug)
path = lab.save_results(cfg, stats["splits"].assign(group="data", model="dataset", setting="-"))
print("dataset checks passed; results written:", lab.short_path(path))
