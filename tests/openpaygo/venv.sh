# Sourced by the OpenPAYGO scripts: the Python reference (openpaygo 0.6.3 from PyPI) in its own venv.
# Sets OPENPAYGO_PYTHON. Creates the venv once and installs the reference only when it is missing, so a
# second run costs nothing. Prints nothing unless something fails.

OPENPAYGO_REFERENCE_VERSION=0.6.3
OPENPAYGO_VENV="${OPENPAYGO_VENV:-$HOME/.cache/micropower/venv-openpaygo}"
OPENPAYGO_PYTHON="$OPENPAYGO_VENV/bin/python"

openpaygo_venv() {
    local log
    log="$(mktemp)"
    if [ ! -x "$OPENPAYGO_PYTHON" ]; then
        mkdir -p "$(dirname "$OPENPAYGO_VENV")"
        if ! python3 -m venv "$OPENPAYGO_VENV" >"$log" 2>&1; then
            cat "$log" >&2; rm -f "$log"; return 1
        fi
    fi
    if ! "$OPENPAYGO_PYTHON" -c "import importlib.metadata as m, sys; sys.exit(m.version('openpaygo') != '$OPENPAYGO_REFERENCE_VERSION')" 2>/dev/null; then
        if ! "$OPENPAYGO_PYTHON" -m pip install -q --disable-pip-version-check \
            "openpaygo==$OPENPAYGO_REFERENCE_VERSION" >"$log" 2>&1; then
            cat "$log" >&2; rm -f "$log"; return 1
        fi
    fi
    rm -f "$log"
}
