# syntax=docker/dockerfile:1
# citygraph service image. Build: docker build -t citygraph .   Run: docker compose up (compose.yaml)

# --- build: locked dependencies first (a cached layer until uv.lock changes), then the project ---
FROM python:3.11-slim AS builder
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir "uv==0.13.*"
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-install-project --no-dev
COPY README.md hatch_build.py ./
COPY api ./api
COPY schema ./schema
COPY auth ./auth
COPY audit ./audit
COPY storage ./storage
# --no-editable: the project goes into the venv as a wheel, so the runtime needs no source tree.
# Building it runs hatch_build.py, which fetches the pages' pinned npm tarballs (GraphiQL, React)
# into the wheel: the image serves them without internet.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

# --- runtime: the venv only, as a non-root user ---
FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 --user-group citygraph
# Root owns the venv: the service cannot rewrite its own code.
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER citygraph
# The embedded default keeps its SQLite files and keys under the working directory.
WORKDIR /home/citygraph
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
# uvicorn with httptools and uvloop (docs/serving.md); CITYGRAPH_WORKERS=N (or --workers N) runs
# N processes on the one port, say one per core; SIGTERM (docker stop) stops them all gracefully
CMD ["citygraph", "serve", "--host", "0.0.0.0", "--port", "8000"]
