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
# # 07 · Activation maps -- why does the model match these two people?
#
# A re-ID model outputs a distance; Grad-CAM shows *which pixels* that decision depends on.
# This notebook uses the `grad-cam` package (`pytorch_grad_cam`) through `reidlab.viz`:
#
# 1. **identity Grad-CAM** -- the evidence for one identity logit of a classifier head;
# 2. **similarity Grad-CAM** -- the evidence for the *similarity between a query embedding and
#    a gallery embedding*: "why does the model think these two are the same person?";
# 3. **per-part maps** for the part models (PFN stripes, MGWP parts, LGEU parts, jlpose boxes);
# 4. the models' **own attention**: MGWP's tiny spatial attention and non-local affinity,
#    LGEU's part x channel weights, jlpose's landmark boxes.
#
# It uses the runs trained by 02-05 (reused from `runs/<profile>/`; trained if missing): in the
# `demo` profile warm-started models (ImageNet MobileNetV2, jlpose lab-pretrained) fine-tuned
# for a minute or two, so the maps show what a model that actually re-identifies people looks
# at. The set-up cell says which run draws the figures and its rank-1.

# %% tags=["parameters"]
# Parameters (papermill: -p name value). Empty strings / None mean "the profile's default".
import os
profile = os.environ.get("REIDLAB_PROFILE", "demo")  # smoke | demo | full | paper
seed = 0                 # training seed
dataset = ""             # synthreid (default) | market1501 | dukemtmc | msmt17 | cuhk03np | folder
data_root = ""           # dataset folder; relative paths start at the project root
device = ""              # auto | cpu | cuda[:N]
output_dir = ""          # results files and figures (default: the profile's reports/.../results)
cam_method = "gradcam"   # any pytorch_grad_cam method: gradcam, gradcam++, hirescam, scorecam, eigencam, ...
model_name = "pfn"       # model for sections 1-3: pfn, mgwp, lgeu, jlpose
query_index = 0          # which query image to explain

# %% [markdown]
# ## Set-up
#
# The run of `model_name` (reused from 02-05), its evaluation (`lab.evaluation`: the
# `reidlab.eval.Evaluation` of the run on this dataset, features from the cache) and three
# images as the model takes them (`lab.model_input`: a normalised tensor and its landmarks):
# the query, its best-ranked correct match and its best-ranked wrong identity.

# %%
# %matplotlib inline
from IPython.display import Markdown, display
from reidlab import lab, viz

cfg, ds = lab.setup("07_activation_maps", profile=profile, seed=seed, dataset=dataset, data_root=data_root,
                    device=device, output_dir=output_dir, cam_method=cam_method)
run = lab.ensure_run(cfg, model_name)
ev = lab.evaluation(cfg, run)
model = run.model
q = lab.model_input(run, ds.query[query_index])                                        # (image, landmarks)
match = lab.model_input(run, ds.gallery[lab.best_gallery(ev, query_index)])
wrong = lab.model_input(run, ds.gallery[lab.best_gallery(ev, query_index, correct=False)])
display(Markdown(lab.run_caption(run, ev)))

# %% [markdown]
# ## 1 · Identity Grad-CAM
#
# For a **training** image (the classifier knows its identity), the map of the evidence for
# the image's own identity logit of the first classifier head, overlaid on the image (red =
# strong); the title gives the logit and its probability. A model that learned people lights
# the body -- garments, bag, shoes; one that learned shortcuts lights the background or the
# image border.

# %%
x, kp = lab.model_input(run, ds.train[0])
fig_id = viz.gradcam_identity(model, x, target_class=ds.train[0].pid, method=cam_method, keypoints=kp)
fig_id

# %% [markdown]
# ## 2 · Similarity Grad-CAM: query, best match, and a look-alike
#
# Each figure: the query, a gallery image, and the two heat maps of the *similarity* of
# their test features (the gradient of their cosine similarity, one side held fixed, with
# respect to each image's feature map); the title gives the similarity. First figure: the
# query's best-ranked correct match -- the regions that make them similar. Second figure:
# the best-ranked *wrong* identity -- the regions that fooled the model (on SynthReID,
# usually the shared upper garment of a look-alike group). Compare the two similarities: the
# margin between them is what training pushes apart.

# %%
fig_sim = viz.gradcam_similarity(model, q[0], match[0], method=cam_method, query_keypoints=q[1],
                                 gallery_keypoints=match[1], labels=("query", "best match"))
display(fig_sim)
fig_sim_wrong = viz.gradcam_similarity(model, q[0], wrong[0], method=cam_method, query_keypoints=q[1],
                                       gallery_keypoints=wrong[1], labels=("query", "look-alike"))
fig_sim_wrong

# %% [markdown]
# ## 3 · Per-part maps
#
# For part models, one map per part feature (for PFN: the two global features and the six
# stripes), each explaining that part's cosine similarity to the same part of the best
# match (score in the title). Each stripe's map should stay inside its own horizontal band:
# stripes pool a band of the last feature map but their receptive field is the whole image,
# so a stripe "looking" elsewhere shows how much context leaks into a part. This view uses
# HiResCAM, which keeps the map faithful to each part's own pooled positions (plain Grad-CAM
# averages the gradients over the map first).

# %%
fig_parts = viz.gradcam_parts(model, q[0], match[0], keypoints=q[1], other_keypoints=match[1])
fig_parts

# %% [markdown]
# ## 4 · The models' own attention
#
# Grad-CAM is a post-hoc explanation; some models compute attention themselves. MGWP (03):
# the four TSA maps of its multi-scale branches and the non-local affinity of one position.
# LGEU (04): the part x channel weights. jlpose (05): the landmark boxes it pools
# (`model.explain` returns them). They are shown for the runs of 03-05 (trained here if
# missing), for the same query image.

# %%
own = {}
run_mgwp = lab.ensure_run(cfg, "mgwp")
x, _ = lab.model_input(run_mgwp, ds.query[query_index])
own["MGWP: tiny spatial attention (TSA) of the four branches"] = viz.plot_tsa_maps(run_mgwp.model, x)
own["MGWP: non-local affinity of one position"] = viz.plot_nonlocal_affinity(run_mgwp.model, x)

run_lgeu = lab.ensure_run(cfg, "lgeu")
x, _ = lab.model_input(run_lgeu, ds.query[query_index])
own["LGEU: part x channel weights"] = viz.plot_lgeu_weights(run_lgeu.model, x)

run_jl = lab.ensure_run(cfg, "jlpose")
x, kp = lab.model_input(run_jl, ds.query[query_index])
boxes = run_jl.model.explain(x[None].to(cfg.device), keypoints=kp[None].to(cfg.device))["part_boxes"][0]
own["jlpose: landmarks and the pooled boxes"] = viz.plot_pose_boxes(x, kp, boxes)

for name, fig in own.items():
    display(Markdown(f"**{name}**"), fig)

# %% [markdown]
# ## Methods compared
#
# The same similarity explained by several CAM methods of the package (Grad-CAM, Grad-CAM++,
# HiResCAM, EigenCAM): methods that agree point to a robust explanation; a method that
# disagrees is telling more about itself than about the model.

# %%
methods = ("gradcam", "gradcam++", "hirescam", "eigencam")
fig_methods = {m: viz.gradcam_similarity(model, q[0], match[0], method=m, query_keypoints=q[1],
                                        gallery_keypoints=match[1]) for m in methods}
for f in fig_methods.values():
    display(f)

# %% [markdown]
# ## Checks

# %%
lab.check_figures(fig_id, fig_sim, fig_sim_wrong, fig_parts, *fig_methods.values(), *own.values())
print("figures checked:", 4 + len(fig_methods) + len(own))

# %% [markdown]
# ## Explore interactively
#
# The figures above are fixed choices: one query, one method, one target. The explorer below
# (a JupyterLab widget) lets you choose them: an image (a spread of query images; the arrows
# step through them), a model (this notebook's four runs), and what to show -- Grad-CAM of
# the identity logit (the predicted identity, or the image's own label for a training image),
# of the similarity to a reference image, per part (every part, or one), with any CAM method
# of the package; or the model's own attention: MGWP's TSA per branch and non-local
# affinity, LGEU's part x channel weights, jlpose's landmarks and boxes. Each figure is
# computed when first asked for, then cached. In a report (papermill, nbval) the widget is
# only created; open the notebook in JupyterLab (`make lab`) to use it.

# %%
explorer = viz.explore_attention({model_name: run, "mgwp": run_mgwp, "lgeu": run_lgeu, "jlpose": run_jl},
                                 viz.spread(ds.query, 24), method=cam_method)
explorer
