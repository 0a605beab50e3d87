#!/usr/bin/env bash
# OpenPAYGO tokens against the reference implementation (PyPI openpaygo 0.6.3): 0 differences required.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/../../tests/openpaygo/differential.sh"
