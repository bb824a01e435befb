#!/bin/sh
# Stand-in for the postgres image's entrypoint (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB), on
# Debian's PostgreSQL, for scripts/compose/compose-test.sh.
set -e
PATH=/usr/lib/postgresql/15/bin:$PATH
DATA=/var/lib/postgresql/data
mkdir -p "$DATA" /var/run/postgresql
chown postgres:postgres "$DATA" /var/run/postgresql
chmod 700 "$DATA"
if [ ! -s "$DATA/PG_VERSION" ]; then
  printf '%s' "$POSTGRES_PASSWORD" > /tmp/pw && chown postgres /tmp/pw
  runuser -u postgres -- initdb -D "$DATA" -U "$POSTGRES_USER" --pwfile=/tmp/pw \
    --auth-host=scram-sha-256 --auth-local=trust >/dev/null
  rm /tmp/pw
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$DATA/pg_hba.conf"
  runuser -u postgres -- pg_ctl -D "$DATA" -o "-c listen_addresses=" -w start >/dev/null
  if [ "$POSTGRES_DB" != "$POSTGRES_USER" ]; then
    runuser -u postgres -- psql -q -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
  else
    runuser -u postgres -- psql -q -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\"" 2>/dev/null || true
  fi
  runuser -u postgres -- pg_ctl -D "$DATA" -m fast -w stop >/dev/null
fi
exec runuser -u postgres -- postgres -D "$DATA" -c listen_addresses='*'
