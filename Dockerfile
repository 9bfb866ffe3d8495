# HeroAgent appliance image.
#   docker build -t heroagent .
#   docker run -p 9021:9021 -p 9999:9999 -v herodata:/data \
#     -e HEROAGENT_UI_PASSWORD=... -e HEROAGENT_UI_API_TOKEN=... \
#     -e HEROAGENT_WEBDAV_USERS=alice:secret heroagent
# A service is published on 0.0.0.0 only when its auth is set (see docker/entrypoint.sh).
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 hero \
    && mkdir /data && chown hero:hero /data

WORKDIR /src
COPY pyproject.toml README.md config.example.toml ./
COPY heroagent ./heroagent
COPY templates ./templates
COPY static ./static
RUN pip install --no-cache-dir . && rm -rf /src
COPY docker/entrypoint.sh /usr/local/bin/heroagent-entrypoint

USER hero
WORKDIR /home/hero
ENV HEROAGENT_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 6379 9999 9021

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os,urllib.request,sys; p=os.environ.get('HEROAGENT_UI_PORT','9021'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{p}/api/health', timeout=4).status == 200 else 1)"

ENTRYPOINT ["heroagent-entrypoint"]
CMD ["serve"]
