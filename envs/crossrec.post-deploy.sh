#!/usr/bin/env bash
# Run by snakemake inside the freshly created conda environment, from the workflow's working
# directory (the project root unless --directory says otherwise): install crossrec itself.
set -euo pipefail
python -m pip install --no-deps -e "${CROSSREC_ROOT:-.}"
