"""``python -m reidlab.viz.explore --time RUN | --screenshots DIR`` (see :mod:`reidlab.viz.explore.tools`)."""

from reidlab.viz.explore.tools import main

if __name__ == "__main__":
    raise SystemExit(main())
