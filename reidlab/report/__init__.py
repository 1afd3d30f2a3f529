"""``reidlab report``: execute the numbered notebooks with papermill in one profile, convert
each to HTML and write ``index.html`` gathering every notebook's results file.

Modules: :mod:`~reidlab.report.runner` (papermill, HTML export),
:mod:`~reidlab.report.index` (``index.html`` from a jinja2 template),
:mod:`~reidlab.report.cli` (the command line), :mod:`~reidlab.report.examples` (the README's
figures, ``python -m reidlab.report.examples``, from the demo's trained runs). The notebooks' own helpers (profiles,
runs, results files) are in :mod:`reidlab.lab`.
"""

from reidlab.report.cli import main, select_notebooks
from reidlab.report.index import build_index, render_index
from reidlab.report.runner import NOTEBOOKS, execute_notebooks, export_html, notebook_path

__all__ = ["main", "select_notebooks", "build_index", "render_index", "NOTEBOOKS", "execute_notebooks",
           "export_html", "notebook_path"]
