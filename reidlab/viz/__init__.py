"""Visual explanations: Grad-CAM for embeddings, the models' own attention, retrieval
galleries, spatial-temporal plots, curves, and figures about the data (``viz.data``).

Every function returns a :class:`matplotlib.figure.Figure` (built without pyplot, so it
works headless and shows once in Jupyter as a cell's value) and never calls ``plt.show()``.
``pytorch_grad_cam`` is imported only when a Grad-CAM map is computed.

Typical use::

    from reidlab import viz
    viz.gradcam_similarity(model, query_img, gallery_img)          # why do these two match?
    viz.plot_retrieval(distmat, ds.query, ds.gallery, q_index=0)   # top-10 with borders
    viz.plot_cmc({"pfn": result_pfn, "baseline": result_base})
    viz.explore_retrieval(ev)                                       # interactive (ipywidgets)
"""

from reidlab.viz.attention import (
    plot_lgeu_weights,
    plot_nonlocal_affinity,
    plot_pose_boxes,
    plot_stripe_contribution,
    plot_tsa_maps,
    stripe_contributions,
)
from reidlab.viz.curves import load_metrics, plot_cmc, plot_training_curves
from reidlab.viz.data import (
    augmentation_preview,
    camera_timeline,
    images_per_identity,
    keypoint_grid,
    model_input,
    pose_boxes,
    sample_sheet,
    spread,
)
from reidlab.viz.gradcam import (
    CAM_METHODS,
    CamError,
    IdentityCam,
    LogitTarget,
    PartCams,
    PartTarget,
    SimilarityCam,
    SimilarityTarget,
    compute_cam,
    explain_with_grad,
    gradcam_identity,
    gradcam_parts,
    gradcam_similarity,
    identity_cam,
    is_flat,
    part_cams,
    similarity_cams,
)
from reidlab.viz.retrieval import plot_retrieval, plot_retrieval_comparison, plot_worst_queries, ranked_gallery
from reidlab.viz.spatiotemporal import (
    STArrays,
    plot_st_histograms,
    plot_st_joint,
    plot_st_matrix,
    st_arrays,
    st_query_rows,
    typical_transit,
)

__all__ = [
    "CAM_METHODS", "CamError", "IdentityCam", "LogitTarget", "PartCams", "PartTarget", "SimilarityCam",
    "SimilarityTarget", "compute_cam", "gradcam_identity", "gradcam_parts", "gradcam_similarity",
    "identity_cam", "part_cams", "similarity_cams", "is_flat", "explain_with_grad",
    "plot_retrieval", "plot_retrieval_comparison", "plot_worst_queries", "ranked_gallery",
    "plot_cmc", "plot_training_curves", "load_metrics",
    "plot_tsa_maps", "plot_nonlocal_affinity", "plot_lgeu_weights", "plot_stripe_contribution",
    "stripe_contributions", "plot_pose_boxes",
    "STArrays", "st_arrays", "plot_st_histograms", "plot_st_matrix", "plot_st_joint", "st_query_rows", "typical_transit",
    "sample_sheet", "images_per_identity", "camera_timeline", "keypoint_grid", "pose_boxes", "augmentation_preview",
    "spread", "model_input", "explore_retrieval", "explore_attention", "explore_st",
]

_EXPLORERS = ("explore_retrieval", "explore_attention", "explore_st")


def __getattr__(name: str):
    # the interactive explorers load on first use (and `python -m reidlab.viz.explore` runs cleanly)
    if name in _EXPLORERS:
        from reidlab.viz import explore

        return getattr(explore, name)
    raise AttributeError(f"module 'reidlab.viz' has no attribute {name!r}")
