#!/bin/sh
# Entry point of the demo frontend: renders the server block for BACKEND_URL and PORT into /tmp and
# runs nginx in the foreground. Variables:
#   BACKEND_URL  http://host:port of the backend (default http://backend:5000, the backend Service)
#   PORT         port nginx listens on (default 8080)
set -eu
backend_url=${BACKEND_URL:-http://backend:5000}
port=${PORT:-8080}
if [ -f /etc/nginx/broken ] && [ "$(cat /etc/nginx/broken)" = crash ]; then
  echo "frontend: this release is deliberately broken (BROKEN=crash); exiting" >&2
  exit 1
fi
hostport=${backend_url#http://}
hostport=${hostport%/}
case "$hostport" in
  "" | *[!A-Za-z0-9.:_-]* | *:*:*)
    echo "frontend: BACKEND_URL must look like http://host:port (got '$backend_url')" >&2
    exit 2
    ;;
esac
case "$hostport" in *:*) ;; *) hostport="$hostport:80" ;; esac
case "$port" in "" | *[!0-9]*) echo "frontend: PORT must be a number (got '$port')" >&2; exit 2 ;; esac
mkdir -p /tmp/nginx-conf.d
sed -e "s|__BACKEND_HOSTPORT__|$hostport|g" -e "s|__LISTEN_PORT__|$port|g" \
  /etc/nginx/templates/default.conf.template >/tmp/nginx-conf.d/default.conf
echo "frontend: serving /srv/www on :$port, /api/ proxied to $hostport" >&2
exec nginx -e /dev/stderr -g 'daemon off;'
