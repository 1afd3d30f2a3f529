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
# # 04 · LGEU -- Local-Global Extraction Unit
#
# *Wang, Qing, Xu, Cai, Jin, Ren, Local-Global Extraction Unit for Person Re-identification.*
#
# ## What the paper claims
#
# Global average pooling treats every row of the last feature map alike. LGEU replaces it:
#
# 1. **local selection** -- the map is cut into K = 4 horizontal parts; each part's average
#    feature goes through *its own* FC(C -> C/16) - ReLU - FC(C/16 -> C) - sigmoid branch,
#    giving a weight per part and per channel (Eq. 2);
# 2. each part's rows of the feature map are re-scaled by its weights (Eq. 3);
# 3. **global fusion** -- global average pooling of the re-scaled map (Eq. 4), softmax loss.
#
# With K = 1 this is a squeeze-and-excitation (SE) unit applied before the pooling; LGEU's
# point is that *different body parts need different channels*. Recipe: ResNet50, 256x128,
# SGD 0.1 -> 0.01 after 40 of 60 epochs, batch 32, softmax only, **cosine** distance. On
# Market-1501 (Table 1): baseline 86.5 / 69.8, SE 89.8 / 74.3, **LGEU 90.0 / 74.5**
# (rank-1 / mAP); with re-ranking 91.8 / 88.0 (Table 2).

# %% [markdown]
# ## What we reproduce, and what differs
#
# * LGEU exactly as Eqs. 1-4 (K = 4, reduction 16), softmax only, cosine distance;
#   `create_model("lgeu", ...)`. The baseline and the SE unit (Table 1) are trained in 06.
# * In `demo`: an ImageNet MobileNetV2 (the lab's offline ImageNet weights) at 128x64 on CPU,
#   fp32: the last feature map has 4 rows at this size with the standard strides -- one row
#   per part; the model docstring says how the rows are split when H is not a multiple of K.
# * The paper's SGD 0.1 on the new layers but **x0.1 (0.01) on the pretrained backbone**, the
#   usual fine-tuning split: one rate of 0.1 overwrites the ImageNet weights in a short run (the
#   plain baseline collapsed to 0.7 % rank-1). 380 iterations (4 epochs, lr x0.1 after 3).

# %% tags=["parameters"]
# Parameters (papermill: -p name value). Empty strings / None mean "the profile's default".
import os
profile = os.environ.get("REIDLAB_PROFILE", "demo")  # smoke | demo | full | paper
seed = 0                 # training seed
dataset = ""             # synthreid (default) | market1501 | dukemtmc | msmt17 | cuhk03np | folder
data_root = ""           # dataset folder; relative paths start at the project root
device = ""              # auto | cpu | cuda[:N]
output_dir = ""          # results files and figures (default: the profile's reports/.../results)
preset = "lgeu"          # paper preset; the profile picks its scale
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

cfg, ds = lab.setup("04_lgeu", profile=profile, seed=seed, dataset=dataset, data_root=data_root,
                    device=device, output_dir=output_dir, preset=preset, epochs=epochs, max_iters=max_iters)
cfg.summary()

# %% [markdown]
# ## The model at a glance
#
# LGEU adds K small branches; the module rows show the unit and its K = 4 excitation
# branches, each with 2 x C x C/16 weights -- the sizes of the paper's Eq. 2 (omega_1: R x C,
# omega_2: C x R).

# %%
lab.model_card(cfg, preset, ds)

# %% [markdown]
# ## Train (or reuse a run folder)
#
# `lab.ensure_run` trains the profile's scale of the preset once -- it calls
# `reidlab.engine.train(preset, data=..., out=..., max_iters=..., seed=...)`, the same function
# as `reidlab train` -- and keeps the run folder (`runs/<profile>/<preset>-seed<seed>/`, e.g.
# `runs/demo/lgeu-cpu-demo-seed0/`: the exact config, `metrics.csv`, `last.pt` / `best.pt`,
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
# * **single-query** -- the visual distance only (cosine distance, the LGEU paper's choice);
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
# ### Which parts and channels LGEU boosts
#
# For the first query: the image with its K = 4 parts; the K x C matrix of LGEU weights
# (rows = body parts top to bottom, columns = channels sorted by their mean weight); and per
# part the mean weight, annotated with the channels that part boosts most relative to the
# other parts. Rows that differ show that the unit re-weights channels *per part*, which an
# SE unit cannot do; identical rows would mean LGEU collapsed to SE.

# %%
fig_weights = viz.plot_lgeu_weights(run.model, lab.model_input(run, ds.query[0])[0])
fig_weights

# %% [markdown]
# ## Next to the paper
#
# Our table (this run) beside the paper's own numbers for the same evaluation settings, from
# `reidlab.paper_results` (transcribed from the paper's tables). The `source` column names
# the table and row.

# %%
lab.percent(lab.compare_with_paper(results, "lgeu"))

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
# The paper's Table 1 (the baseline / SE / LGEU comparison) for reference -- our version of
# it is in 06:

# %%
paper_results.paper_table("lgeu/table1")

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
lab.check_figures(fig_curves, fig_cmc, fig_weights)
path = lab.save_results(cfg, results.assign(model="lgeu", group="main"),
                        extra={"notes": [st_note] if st_note else []})
print("results written:", lab.short_path(path))
