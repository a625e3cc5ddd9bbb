# One image for the three services; compose picks the service by its gunicorn command.
FROM python:3.11.17-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r requirements/services.txt -r requirements/frontend.txt

COPY ops/ ops/
COPY diespec/ diespec/
COPY roller/ roller/
COPY frontend_site/ frontend_site/
COPY manage.py ./

RUN useradd --system --uid 10001 --no-create-home app
USER 10001

EXPOSE 8000
# No curl in a slim image: Python itself asks /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

CMD ["python", "-m", "gunicorn", "-c", "ops/gunicorn.conf.py", "-b", "0.0.0.0:8000", "diespec.app:create_app()"]
