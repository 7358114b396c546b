#!/usr/bin/env bash
# Time `make test` on a clean clone with ../shared beside it (target: under 15 minutes on 2 cores).
# Usage: bash bench/bench_clean_clone.sh   (clones HEAD into ../ci-check; needs ../shared/data)
set -euo pipefail
repo=$(git rev-parse --show-toplevel)
dest=$(dirname "$repo")/ci-check
rm -rf "$dest"
git clone -q "$repo" "$dest"
start=$(date +%s)
(cd "$dest" && CI=true bash .ci/run)
end=$(date +%s)
echo "clean clone: make test took $((end - start)) s (target < 900 s)"
