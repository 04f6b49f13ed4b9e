# Sourced by .ci/run (bash, set -euo pipefail, the venv active): a throwaway PostgreSQL server
# for the tests marked `postgres` (tests/test_postgres.py).
# - installs Debian's postgresql if no server binaries are there, and the project's extra
#   `postgres` (psycopg 3) into the venv;
# - initialises a cluster in a temporary folder (as the `postgres` user when run as root: the
#   server refuses to run as root), with password authentication;
# - starts it on 127.0.0.1 on a free port, creates the database dse_test, and exports
#   DSE_TEST_POSTGRES_URL=postgresql://dse:<password>@127.0.0.1:<port>/dse_test;
# - stops it and removes the folder when the calling shell exits.
# A step that fails ends CI with its error: the tests must run here, not skip.

dse_pg_bin() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(readlink -f "$(command -v initdb)")"; return 0
    fi
    return 1
}

if ! DSE_PG_BIN=$(dse_pg_bin); then
    echo "postgres.sh: installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    # the package may start its own cluster (main, port 5432): not ours to leave running
    if command -v pg_lsclusters >/dev/null; then
        pg_lsclusters -h | awk '$4 == "online" {print $1, $2}' | while read -r v c; do
            pg_ctlcluster "$v" "$c" stop || true
        done
    fi
    DSE_PG_BIN=$(dse_pg_bin)
fi
python -m pip install --quiet -c constraints.txt -e '.[postgres]'

DSE_PG_DIR=$(mktemp -d /tmp/dse-ci-pg.XXXXXX)
DSE_PG_PASSWORD=$(python -c 'import secrets; print(secrets.token_hex(12))')
DSE_PG_PORT=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '%s\n' "$DSE_PG_PASSWORD" >"$DSE_PG_DIR/pw"
DSE_PG_AS=()
if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$DSE_PG_DIR"
    DSE_PG_AS=(runuser -u postgres --)
fi

dse_pg_stop() {
    "${DSE_PG_AS[@]}" "$DSE_PG_BIN/pg_ctl" stop -D "$DSE_PG_DIR/db" -m fast -w >/dev/null 2>&1 || true
    rm -rf "$DSE_PG_DIR"
}
# run after whatever the calling shell already does on exit
trap "dse_pg_stop; $(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT\$/\\1/")" EXIT

"${DSE_PG_AS[@]}" "$DSE_PG_BIN/initdb" -D "$DSE_PG_DIR/db" -U dse --pwfile="$DSE_PG_DIR/pw" \
    -A scram-sha-256 -E UTF8 --locale=C --no-sync >"$DSE_PG_DIR/initdb.log" \
    || { cat "$DSE_PG_DIR/initdb.log"; false; }
"${DSE_PG_AS[@]}" "$DSE_PG_BIN/pg_ctl" start -D "$DSE_PG_DIR/db" -w -t 60 -l "$DSE_PG_DIR/server.log" \
    -o "-h 127.0.0.1 -p $DSE_PG_PORT -k $DSE_PG_DIR -c max_connections=50" >/dev/null \
    || { cat "$DSE_PG_DIR/server.log"; false; }
PGPASSWORD="$DSE_PG_PASSWORD" "$DSE_PG_BIN/psql" -X -q -h 127.0.0.1 -p "$DSE_PG_PORT" -U dse \
    -d postgres -c 'CREATE DATABASE dse_test' >/dev/null
export DSE_TEST_POSTGRES_URL="postgresql://dse:$DSE_PG_PASSWORD@127.0.0.1:$DSE_PG_PORT/dse_test"
echo "postgres.sh: PostgreSQL $("$DSE_PG_BIN/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$DSE_PG_PORT (DSE_TEST_POSTGRES_URL set)"
