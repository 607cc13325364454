# One seatserver instance. Runs from the source tree (editable install), so the
# migrations/ and web/ folders next to the package are where the app looks.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY seatserver ./seatserver
COPY migrations ./migrations
COPY web ./web
RUN pip install -e . && useradd --system --home /app seatserver
USER seatserver

EXPOSE 8080
# /readyz: this instance reaches Redis and PostgreSQL.
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2).status != 200)"
CMD ["seatserver", "serve", "--host", "0.0.0.0", "--port", "8080"]
