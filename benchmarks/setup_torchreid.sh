#!/usr/bin/env bash
# Create benchmarks/.venv-torchreid with torchreid==0.2.5 (and its Cython evaluate_rank) for
# benchmarks/bench_eval.py, WITHOUT a second torch install: the new venv sees the main venv's
# site-packages through a .pth file (torch, numpy, scipy come from there).
#
#   bash benchmarks/setup_torchreid.sh            # uses ../.venv of this checkout
#   MAIN_VENV=/path/to/.venv bash benchmarks/setup_torchreid.sh
#
# torchreid is installed with --no-deps (its requirements pull opencv, tensorboard, ...; the
# benchmark only loads torchreid/metrics/rank.py, the compiled rank_cy extension and
# torchreid/utils/rerank.py, by file path, so none of that is needed) and --no-build-isolation
# so the Cython extension is compiled against the numpy already present.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
MAIN_VENV="${MAIN_VENV:-$ROOT/.venv}"
VENV="$HERE/.venv-torchreid"
PY="$VENV/bin/python"

test -x "$MAIN_VENV/bin/python" || { echo "setup_torchreid: $MAIN_VENV/bin/python not found; run 'make venv' first or set MAIN_VENV" >&2; exit 1; }
MAIN_SITE="$("$MAIN_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

test -x "$PY" || python3 -m venv "$VENV"
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$MAIN_SITE" > "$SITE/_reidlab_main_venv.pth"   # appended to sys.path: torch/numpy from the main venv
"$PY" -c "import torch, numpy; print('torchreid venv sees torch', torch.__version__, 'numpy', numpy.__version__)"

"$PY" -m pip install -q --progress-bar off "setuptools<70" wheel "cython<3.1"
"$PY" -m pip install -q --progress-bar off --no-deps --no-build-isolation torchreid==0.2.5

PKG="$("$PY" -c 'import importlib.util, os; s = importlib.util.find_spec("torchreid"); print(os.path.dirname(s.origin))')"
CYDIR="$PKG/reid/metrics/rank_cylib"
if ls "$CYDIR"/rank_cy*.so >/dev/null 2>&1; then
    echo "setup_torchreid: Cython evaluate_rank extension present: $(ls "$CYDIR"/rank_cy*.so)"
elif [ -f "$CYDIR/rank_cy.pyx" ]; then
    echo "setup_torchreid: building the Cython extension from $CYDIR/rank_cy.pyx"
    ( cd "$CYDIR" && "$PY" setup.py build_ext --inplace )
else
    # The PyPI torchreid 0.2.5 wheel (the "Torchreid-Pip" repackaging) ships rank_cylib/setup.py but
    # not rank_cy.pyx, so its evaluate_rank silently falls back to the Python evaluator. The PyPI
    # package pyppbox-torchreid (a torchreid fork) ships the same Cython evaluator prebuilt for
    # CPython 3.11 (evaluate_cy(distmat, q_pids, g_pids, q_camids, g_camids, max_rank,
    # use_metric_cuhk03)); put that compiled module where torchreid 0.2.5 looks for it.
    echo "setup_torchreid: torchreid 0.2.5 ships no rank_cy.pyx; taking the compiled rank_cy from pyppbox-torchreid==1.4.1.0"
    "$PY" -m pip install -q --progress-bar off --no-deps pyppbox-torchreid==1.4.1.0
    PPB="$("$PY" -c 'import importlib.util, os; s = importlib.util.find_spec("pyppbox_torchreid"); print(os.path.dirname(s.origin))')"
    cp "$PPB"/metrics/rank_cylib/rank_cy*.so "$CYDIR"/
fi
ls "$CYDIR"/rank_cy*.so
echo "setup_torchreid: done ($VENV)"
