# Worker / producer / Flower image for nlp-pipeline.
#
#   docker build -t nlp-pipeline .                                  # CPU torch (default)
#   docker build -t nlp-pipeline:gpu --build-arg TORCH_INDEX_URL= . # CUDA torch from the default index
#
# The install mirrors the README and the Makefile exactly:
#   pip install torch==2.13.0              (first, pinned)
#   pip install -c requirements.lock .     (non-editable here, no extras; `-e '.[dev]'` on a dev machine)
FROM python:3.11-slim-bookworm

# Extra index that `pip install torch==2.13.0` may use. The default is PyTorch's CPU-only
# wheel index, so the image gets torch 2.13.0+cpu instead of the multi-GB CUDA build that
# the default index serves for Linux x86_64. Set it empty to get the CUDA build (GPU worker).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# The user the processes run as. Match your host user when /data is a bind mount
# (docker-compose.yml passes NLP_PIPELINE_UID / NLP_PIPELINE_GID here).
ARG APP_UID=1000
ARG APP_GID=1000

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

# 1. torch first, pinned, so nothing later resolves a different (CUDA) build.
RUN if [ -n "$TORCH_INDEX_URL" ]; then export PIP_EXTRA_INDEX_URL="$TORCH_INDEX_URL"; fi \
 && pip install torch==2.13.0

# 2. The project, with every dependency pinned by the lock file (used as constraints).
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY pipeline/ pipeline/
COPY workers/ workers/
COPY configs/ configs/
# configs/ is a package of its own, so the YAML files are installed with the code. pipeline_train/
# (training and evaluation, with the `train` extra) is not copied: workers never import it.
RUN pip install -c requirements.lock .

# 3. Flower (monitoring, the `flower` compose service). Not a project dependency, so it is not
#    in pyproject.toml; the lock still constrains celery and its other shared dependencies.
RUN pip install -c requirements.lock flower==2.2.0

# Non-root user; /data is the shared input/output volume, HOME holds caches (Hugging Face, spaCy).
RUN groupadd --gid "$APP_GID" app \
 && useradd --uid "$APP_UID" --gid "$APP_GID" --create-home --home-dir /home/app --shell /usr/sbin/nologin app \
 && mkdir -p /data/in /data/out \
 && chown -R app:app /data
USER app
ENV HOME=/home/app
# HF_HUB_OFFLINE is deliberately not set: the built-in models ship with the package, and a
# user who points a stage at a Hugging Face model id needs the hub. Set HF_HUB_OFFLINE=1 at
# run time to forbid network look-ups.
# NLP_PIPELINE_BROKER_URL is not baked in either: give it at run time (e.g. redis://redis:6379/0).

VOLUME ["/data"]
WORKDIR /data
CMD ["nlp-pipeline", "worker"]
