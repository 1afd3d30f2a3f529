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
# # 08 · Retrieval galleries -- what the model returns, and how post-processing changes it
#
# Metrics summarise thousands of rankings; a gallery shows a few. For a query: its top-k
# gallery images with **green** borders for the same identity and **red** for another one,
# the distance and the camera under each image. Then the same query with re-ranking and with
# spatial-temporal scoring side by side, and the "worst queries" view sorted by average
# precision -- where a model's failures are most instructive.
#
# Uses the PFN run of 02 by default (`model_name` selects another): in the `demo` profile a
# warm-started (ImageNet MobileNetV2) model fine-tuned for about a minute; the set-up cell names
# the run and its rank-1.

# %% tags=["parameters"]
# Parameters (papermill: -p name value). Empty strings / None mean "the profile's default".
import os
profile = os.environ.get("REIDLAB_PROFILE", "demo")  # smoke | demo | full | paper
seed = 0                 # training seed
dataset = ""             # synthreid (default) | market1501 | dukemtmc | msmt17 | cuhk03np | folder
data_root = ""           # dataset folder; relative paths start at the project root
device = ""              # auto | cpu | cuda[:N]
output_dir = ""          # results files and figures (default: the profile's reports/.../results)
model_name = "pfn"       # pfn, mgwp, lgeu, jlpose
topk = None              # images per row (None: the profile's)
n_queries = None         # queries shown (None: the profile's)

# %% [markdown]
# ## Set-up
#
# The run of `model_name` (reused from 02-05) and its `reidlab.eval.Evaluation` on this
# dataset (`lab.evaluation`, features from the cache); `ev.distance(setting)` is the query x
# gallery distance matrix of a setting (smaller = closer), what the galleries below rank.

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import Markdown, display
from reidlab import lab, viz
pd.set_option("display.precision", 1)

cfg, ds = lab.setup("08_retrieval_gallery", profile=profile, seed=seed, dataset=dataset, data_root=data_root,
                    device=device, output_dir=output_dir, topk=topk, n_queries=n_queries)
run = lab.ensure_run(cfg, model_name)
ev = lab.evaluation(cfg, run)
results = ev.table(["single-query", "rerank", "st", "st+rerank"], skip_unavailable=True)
display(Markdown(lab.run_caption(run, ev)))
lab.percent(results)

# %% [markdown]
# ## Top-k for a few queries
#
# Each figure is one query (left) and its top-k gallery images in order, numbered by rank.
# Under each image: the distance `d` (smaller = closer) and the camera. Junk images (same
# person, same camera) are removed as the protocol removes them, so the ranks shown are the
# evaluated ranks. A row that starts red is a rank-1 error; count the greens to see the row's
# precision.

# %%
k = cfg.param("topk")
fig_topk = [viz.plot_retrieval(ev.distance("single-query"), ds.query, ds.gallery, q_index=i, top_k=k)
            for i in viz.spread(range(len(ds.query)), cfg.param("n_queries"))]
for f in fig_topk:
    display(f)

# %% [markdown]
# ## The same query, three ways
#
# Rows: the visual distance alone, k-reciprocal re-ranking, spatial-temporal joint score (as the
# distance `2 - 2 * score`); each row is labelled with this query's average precision. Watch
# the red images: re-ranking pushes down candidates that are *not* mutual neighbours of the
# query; spatial-temporal scoring pushes down those seen at a camera and time the query's
# person could not have reached. The query shown is the one whose AP differs most between
# the three rankings.

# %%
ways = [s for s in ("single-query", "rerank", "st") if s in results.index]
qi = lab.most_changed_query(ev, ways)
fig_cmp = viz.plot_retrieval_comparison({s: ev.distance(s) for s in ways}, ds.query, ds.gallery,
                                        q_index=qi, top_k=k)
fig_cmp

# %% [markdown]
# ## Worst queries
#
# The queries with the lowest average precision (query index and AP at the left of each
# row), and at the right the best-ranked correct match with its rank -- where the model
# should have put it. Typical causes on SynthReID: look-alike groups sharing the upper
# garment, heavy occlusion, a camera with a strong colour cast, a cut-off detector box.
# Those are also real datasets' failure modes.

# %%
fig_worst = viz.plot_worst_queries(ev.distance("single-query"), ds.query, ds.gallery,
                                   n=cfg.param("n_queries"), top_k=k)
fig_worst

# %% [markdown]
# ## Checks

# %%
print(lab.check_results(results, cfg, chance=lab.random_rank1(ds)))
lab.check_figures(*fig_topk, fig_cmp, fig_worst)
print("gallery checks passed")

# %% [markdown]
# ## Explore interactively
#
# The galleries above show a few chosen queries; the explorer below (a JupyterLab widget)
# shows any of them. Scoring buttons: plain, re-ranked, spatial-temporal, ST + re-ranking,
# query expansion (what this evaluation allows). Filters: only failures (queries whose first
# correct match is not at rank 1 in the chosen scoring), a camera, an identity, worst AP
# first. The slider and the previous / next buttons walk the filtered list. Above the
# gallery, this query's AP and first-hit rank under every scoring; when the first correct
# match is beyond the top-k, it is added at the right with its rank. "explain rank" shows
# the similarity Grad-CAM of the query and that gallery image side by side, and the per-part
# maps for part models (computed once per pair). Switching query or scoring only re-ranks
# cached distances. In a report (papermill, nbval) the widget is only created; open the
# notebook in JupyterLab (`make lab`) to use it.

# %%
explorer = viz.explore_retrieval(ev, top_k=k)
explorer
