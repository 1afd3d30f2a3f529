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
# # 06 · Ablations -- does each paper's ingredient help here?
#
# Each paper supports its design with an ablation table: remove one ingredient, retrain,
# compare. This notebook regenerates those tables on the embedded dataset with the small CPU
# models, **variant by variant with identical budgets and seeds**, and says -- computed from
# the numbers, not written in advance -- whether the paper's ordering holds here.
#
# | study | variants | the paper's table |
# |---|---|---|
# | `pfn` | global only / local (stripes) only / global + local; + spatial-temporal | Table I (rows) and text |
# | `mgwp` | full, without NL / MSG / TSA / weight-driven fusion; 4, 6, 8 parts | captions only (values lost in extraction) |
# | `mgwp-branches` | C-P2 (branches 1-4), w/o branch 1 ... 4, w/o MSG | caption "Effect of each branch of C-P2" |
# | `mgwp-size` | 128x64, 192x64, 192x96, each with and without MSG | caption "different image sizes and multi-scale modules" |
# | `lgeu` | plain baseline / SE unit / LGEU | Table 1 |
# | `jlpose` | Table IV's six rows: baseline, Global+Local, Softmax+Triplet 1:0.5 / 1:1 / 0.5:1, Whole Architecture | Table IV |
#
# **How a verdict is reached.** Every variant is trained with `n_seeds` seeds (independent
# trainings). A paper claim "A beats B" is decided by **Welch's two-sided t-test at 5 %** on
# the per-seed values: *holds* when p < 0.05 and A's mean is higher, *reversed* when p < 0.05
# and it is lower, *inconclusive* otherwise -- and always with fewer than two seeds on a side
# or no seed-to-seed spread at all (the test is undefined there). Two single runs never
# decide. The rule lives in `reidlab.lab.verdicts`. With 3 seeds a difference must be several
# seed standard deviations to be called; **with 2 seeds (the demo) the test decides little**,
# with 1 (smoke) nothing. A paper's ordering not reproduced here is a finding about this setting
# (small warm-started CPU models, short budgets, synthetic data), not a verdict on the paper.

# %% tags=["parameters"]
# Parameters (papermill: -p name value). Empty strings / None mean "the profile's default".
import os
profile = os.environ.get("REIDLAB_PROFILE", "demo")  # smoke | demo | full | ablations | paper
seed = 0                 # first training seed; the variants use seed, seed + 1, ... (n_seeds of them)
n_seeds = None           # seeds per variant (None: the profile's -- smoke 1, demo 2, ablations / full / paper 3)
dataset = ""             # synthreid (default) | market1501 | dukemtmc | msmt17 | cuhk03np | folder
data_root = ""           # dataset folder; relative paths start at the project root
device = ""              # auto | cpu | cuda[:N]
output_dir = ""          # results files, CSVs and figures (default: the profile's reports/.../results)
studies = ""             # comma-separated subset of pfn,mgwp,mgwp-branches,mgwp-size,lgeu,jlpose ("": the profile's; demo: lgeu)
max_iters = None         # training iterations of every variant (None: the profile's budget per model, = its main run)

# %% [markdown]
# ## Set-up
#
# The profile fixes the number of seeds (`ablation_num_seeds`, or the `n_seeds` parameter),
# which studies and variants run (`ablation_studies`, `ablation_scope`) and the budget: every
# variant of a model trains exactly as long as that model's main run, so a variant equal to a
# main run *is* that run (reused, not retrained), and variants that are the same training in
# two studies (e.g. "w/o MSG" and "128x64 w/o MSG") share one run.
#
# * `demo` (what `make demo` runs) fits its 20-minute budget with one study, LGEU (baseline /
#   SE / LGEU), and **2 seeds -- which decide little**: expect *inconclusive* verdicts unless a
#   difference is huge. The other studies print "not run".
# * `ablations` (`make ablations`, about an hour on 2 cores) runs every variant of every
#   study with 3 seeds, on the demo's warm-started recipes with shorter budgets; its report is
#   `reports/ablations/index.html`, with CSVs next to it.
# * `smoke` runs two or three variants per study with one seed, only to check that the code runs.
#
# Runs are kept under `runs/<profile>/` and reused.

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import Markdown, display
from reidlab import lab, paper_results
from reidlab.lab import ablations
pd.set_option("display.precision", 1)

cfg, ds = lab.setup("06_ablations", profile=profile, seed=seed, dataset=dataset, data_root=data_root,
                    device=device, output_dir=output_dir, max_iters=max_iters, studies=studies, n_seeds=n_seeds)
cfg.summary()

# %%
display(Markdown(ablations.few_seeds_note(len(ablations.ablation_seeds(cfg)))))

# %% [markdown]
# ### What is ablated
#
# The studies are data (`reidlab.lab.ablations.STUDIES`): each variant is a paper preset plus
# preset overrides (the model options or preset fields a variant switches off or changes),
# the profile scopes it runs in (`smoke`, `demo`, `full`: the profile's `ablation_scope`;
# `ablations` runs the `full` scope), the evaluation settings it is scored in, and where the
# paper shows the study. Adding a variant is adding a row there.

# %%
ablations.studies_table()

# %% [markdown]
# Each study also lists the paper's claims ("A > B", `|st` = in the spatial-temporal setting)
# that the verdicts below test, with where each claim comes from:

# %%
ablations.claims_table()

# %% [markdown]
# ### The plan of this run
#
# What this profile trains: the selected studies' variants, the seeds, the iterations of
# each training (the same as the model's main run, so the full-model variant reuses it) and
# the run folder (variants with the same folder are one training per seed).

# %%
ablations.ablation_plan(cfg)

# %% [markdown]
# ## PFN: global, local, both (+ spatial-temporal)
#
# PFN's claim is that **global and local features are complementary**: the concatenation
# beats either alone, and spatial-temporal scoring adds on top. Variants: only the two
# global features, only the six stripes, both (the full model); each evaluated single-query
# and with the spatial-temporal joint score (`st`).

# %% [markdown]
# **The paper.** No separate ablation table; its Table I contains the relevant rows: a
# global-only model (Bag of Tricks, 94.5 / 85.9), a stripes-only model (PCB+RPP, 93.8 /
# 77.4), PFN (95.0 / 87.4) and PFN + ST (98.0 / 89.0):

# %%
paper_results.paper_table("pfn/table1")

# %% [markdown]
# **Ours.** Each variant is trained with the same budget and seeds (see the plan), evaluated
# on the same split through `lab.evaluation` (`reidlab.engine.runs.run_evaluation`, the one
# evaluator); cells are in percent, with several seeds *mean ± std*.

# %%
abl_pfn = ablations.run_study(cfg, "pfn", ds)
ablations.ablation_table(abl_pfn)

# %%
display(Markdown(ablations.ablation_observations(abl_pfn, "pfn")))

# %% [markdown]
# ## MGWP: non-local, multi-scale global, TSA, weight-driven fusion, number of parts
#
# MGWP claims each of its modules adds accuracy. Variants: the full model, then the full
# model **without** one module at a time (non-local blocks, multi-scale global module, its
# tiny spatial attention, weight-driven part fusion), and the number of parts.

# %% [markdown]
# **The paper.** Its ablation tables (effect of each module; of each branch; of TSA; of the
# part fusion; of the number of parts) lost their values in the text extraction; only the
# captions survive ("it is observed that the model performance is optimal when the number of
# [parts is 6]"). The one surviving number is the full model with multi-query and
# re-ranking:

# %%
paper_results.paper_table("mgwp/text")

# %% [markdown]
# **Ours.** Same budget and seeds for every variant, as above.

# %%
abl_mgwp = ablations.run_study(cfg, "mgwp", ds)
ablations.ablation_table(abl_mgwp)

# %%
display(Markdown(ablations.ablation_observations(abl_mgwp, "mgwp")))

# %% [markdown]
# ## MGWP: each branch of the multi-scale module (C-P2)
#
# The multi-scale global module (MSG, "C-P2" in the paper) runs four branches on layer4 --
# 1: 1x1 conv; 2: 1x1 -> 5x5; 3: 1x1 -> 3x3 -> 3x3; 4: 3x3 average pooling -> 1x1, each with
# its tiny spatial attention -- and adds their fused output to layer4. The paper removes one
# branch at a time ("Effect of each branch of C-P2 on the model performance"; values lost in
# the text copy) and says it kept the combination that worked best. Variants: all four
# branches, each "w/o branch N" (`model_options.ms_branches` without N), and no MSG at all.
# (In notebook 03's TSA figure, a model without branch 1 labels its maps 2, 3, 4.)

# %%
abl_branches = ablations.run_study(cfg, "mgwp-branches", ds)
ablations.ablation_table(abl_branches)

# %%
display(Markdown(ablations.ablation_observations(abl_branches, "mgwp-branches")))

# %% [markdown]
# ## MGWP: input image size, with and without the multi-scale module
#
# The paper's last ablation crosses the input size with the multi-scale module ("The results
# under different image sizes and different multi-scale global feature modules"). Its sizes
# were lost with the table; here 128x64 (the demo's size and the synthetic images' own),
# 192x64 and 192x96 (the common 384x128 and 384x192, halved), each with and without MSG.
# The claims tested: MSG helps at each size. Larger inputs cost more: 192x96 has 2.25x the
# pixels of 128x64.

# %%
abl_size = ablations.run_study(cfg, "mgwp-size", ds)
ablations.ablation_table(abl_size)

# %%
display(Markdown(ablations.ablation_observations(abl_size, "mgwp-size")))

# %% [markdown]
# ## LGEU: plain baseline vs SE unit vs LGEU
#
# LGEU's claim: replacing global average pooling with part-wise channel re-weighting beats
# both the plain pooling and an SE unit in the same place (Table 1), all trained with the
# same softmax recipe and evaluated with cosine distance.

# %% [markdown]
# **The paper** (Table 1, no re-ranking): LGEU > SE > baseline on all three datasets, by
# 0.2-3.3 rank-1 points between LGEU and SE:

# %%
paper_results.paper_table("lgeu/table1")

# %% [markdown]
# **Ours.** Same budget and seeds for every variant, as above.

# %%
abl_lgeu = ablations.run_study(cfg, "lgeu", ds)
ablations.ablation_table(abl_lgeu)

# %%
display(Markdown(ablations.ablation_observations(abl_lgeu, "lgeu")))

# %% [markdown]
# ## Joint loss: Table IV's six rows
#
# The joint-loss paper's Table IV, one preset per row (`paper_results.TABLE_PRESETS`): the
# softmax-only **baseline** (global branch only, `jlpose-baseline`), adding the pose-guided
# local branches (**Global+Local**, `jlpose-global-local`), the joint loss on the baseline
# setting -- global branch only, identification : triplet = 1 : 0.5, 1 : 1, 0.5 : 1
# (`jlpose-triplet-1-0.5`, `-1-1`, `-0.5-1`) -- and the **Whole Architecture** (global +
# local, joint loss 0.5 : 1, `jlpose`).

# %% [markdown]
# **The paper** (Table IV, Market-1501): baseline 79.7 < global + local 83.1 < joint loss
# 84.6-84.8 (the three weightings within 0.3 points of each other) < whole architecture
# 86.1:

# %%
paper_results.paper_table("jlpose/table4")

# %% [markdown]
# **Ours.** Same budget and seeds for every variant, as above.

# %%
abl_jlpose = ablations.run_study(cfg, "jlpose", ds)
ablations.ablation_table(abl_jlpose)

# %%
display(Markdown(ablations.ablation_observations(abl_jlpose, "jlpose")))

# %% [markdown]
# ## Summary
#
# All variants of all studies in one table (mean ± std over seeds, in percent):

# %%
all_studies = ablations.concat_ablations(abl_pfn, abl_mgwp, abl_branches, abl_size, abl_lgeu, abl_jlpose)
ablations.ablation_table(all_studies)

# %% [markdown]
# And every claim's verdict: A and B are the two sides of the claim (mean ± std in percent),
# `diff` their difference in points, `p` Welch's two-sided p-value ("-" when the test is
# undefined: one seed, or no spread), then the verdict by the rule above, on rank-1 and on mAP.

# %%
ablations.verdict_table(all_studies)

# %% [markdown]
# ## Checks
#
# Every planned variant produced metrics in range for every seed. The results go to the
# report: the per-seed rows (`06_ablations.results.json` / `.csv`), one tidy CSV per study
# (`ablation-<study>.csv`, one row per variant, seed and setting), `ablation-summary.csv`
# (mean, std, n per variant, setting and metric) and `ablation-verdicts.csv` (per claim and
# metric: both sides' mean, std and n, Welch's t, df, p and the verdict), all in fractions.

# %%
ablations.check_ablations(all_studies, cfg)
n_used = len(ablations.ablation_seeds(cfg))
csvs = ablations.write_ablation_csvs(all_studies, cfg.output_dir)
path = lab.save_results(cfg, all_studies, extra={
    "observations": ablations.ablation_observations(all_studies, as_list=True),
    "verdict_table": ablations.verdict_table(all_studies).reset_index().to_dict("records"),
    "verdict_rule": ablations.VERDICT_RULE, "n_seeds": n_used,
    "seeds_note": ablations.few_seeds_note(n_used, markdown=False)})
print("results written:", lab.short_path(path), "+", ", ".join(p.name for p in csvs))
