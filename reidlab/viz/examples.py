"""``python -m reidlab.viz.examples``: the README's figures, under the name the issues and
older notes use. The script itself is :mod:`reidlab.report.examples`: it finds or trains the
demo's runs through :mod:`reidlab.lab`, which sits above ``viz``, so this module only forwards
to it when run (importing it imports nothing above ``viz``)."""

from __future__ import annotations

if __name__ == "__main__":  # pragma: no cover - exercised by tests/test_layers.py's allow-list and by hand
    import runpy

    runpy.run_module("reidlab.report.examples", run_name="__main__", alter_sys=True)
