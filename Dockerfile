# syntax=docker/dockerfile:1
# auditor in a container: a pinned Rust toolchain with the wasm32 target, binaryen, and
# auditor installed from this checkout by the same script the README uses.
#   docker build -t auditor .
#   docker run --rm -v "$PWD:/work" auditor scan /work/my-crate
FROM rust:1.82.0-slim-bookworm

RUN rustup target add wasm32-unknown-unknown wasm32-wasip1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv binaryen git ca-certificates \
 && rm -rf /var/lib/apt/lists/*

COPY . /opt/auditor/src
WORKDIR /opt/auditor/src
# Same installer as the README's first command; it finds the image's wasm32 toolchain and
# so installs no Debian Rust.
RUN bash scripts/setup.sh --runtime-only --venv /opt/auditor/venv

RUN useradd --create-home --uid 10001 auditor
USER auditor
ENV PATH=/opt/auditor/venv/bin:$PATH \
    CARGO_HOME=/home/auditor/.cargo \
    XDG_CACHE_HOME=/home/auditor/.cache
WORKDIR /work
ENTRYPOINT ["auditor"]
CMD ["--help"]
