# One image for every role (api, worker, scheduler, migrate): the command picks the role.
FROM python:3.11-slim-bookworm

# pg_dump / pg_restore for real database refresh copies.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir uv
WORKDIR /app
# Dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
# The source tree as .dockerignore filters it: every package the wheel lists in pyproject.toml
# ([tool.hatch.build.targets.wheel] packages) comes along without being named here.
COPY . .
RUN uv sync --frozen --no-dev

ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1
RUN useradd --system --home /app updatedesk
USER updatedesk
EXPOSE 8000
CMD ["updatedesk", "serve", "--host", "0.0.0.0", "--port", "8000"]
