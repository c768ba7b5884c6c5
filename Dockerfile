# syntax=docker/dockerfile:1
# auditor in a container: a pinned Rust toolchain with the wasm32 targets, binaryen, and
# auditor installed from this checkout (`pip install .`, by the same script the README
# uses: rules/ and the fixture allocators are installed as data beside the package).
#
#   docker build -t auditor .
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/work" -v auditor-cache:/cache \
#       auditor scan my-crate --format json -o report.json
#
# - /work is the working directory: mount the checkout there. auditor reads the crate and
#   builds in shadow copies under the cache, so a read-only mount (`-v "$PWD:/work:ro"`)
#   is enough unless you write a report into it (`-o report.json`): then run as your own
#   uid (`--user "$(id -u):$(id -g)"`) so the file is yours and the mount writable.
#   Without --user the container runs as the unprivileged `auditor` user (uid 10001).
# - /cache holds auditor's scan cache and cargo's registry (XDG_CACHE_HOME, CARGO_HOME):
#   a named volume (`-v auditor-cache:/cache`) keeps builds across `--rm` runs; it is
#   world-writable so any --user can use it.
# Rust 1.85 is the first release with edition 2024 (crates.io crates use it); the image
# is pinned so a scan's figures only change when this line does.
FROM rust:1.85.1-slim-bookworm

RUN rustup target add wasm32-unknown-unknown wasm32-wasip1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv binaryen git ca-certificates \
 && rm -rf /var/lib/apt/lists/*

COPY . /opt/auditor/src
WORKDIR /opt/auditor/src
# Same installer as the README's first command; it finds the image's wasm32 toolchain and
# so installs no Debian Rust.
RUN bash scripts/setup.sh --runtime-only --venv /opt/auditor/venv

RUN useradd --create-home --uid 10001 auditor \
 && mkdir -p /cache /work \
 && chmod 1777 /cache \
 && chown auditor /work
ENV PATH=/opt/auditor/venv/bin:$PATH \
    CARGO_HOME=/cache/cargo \
    XDG_CACHE_HOME=/cache
VOLUME ["/cache"]
USER auditor
WORKDIR /work
ENTRYPOINT ["auditor"]
CMD ["--help"]
