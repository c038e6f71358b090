#!/usr/bin/env bash
# Start a local PostgreSQL (Debian cluster) and create the test role and database; prints the URL.
set -euo pipefail
log() { printf '[postgres] %s\n' "$*" >&2; }
VER=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$VER main$"; then
    pg_createcluster "$VER" main >/dev/null
fi
if ! pg_lsclusters -h | grep -q "^$VER *main *[0-9]* *online"; then
    pg_ctlcluster "$VER" main start
fi
for _ in $(seq 1 30); do
    su postgres -c "pg_isready -q" && break
    sleep 1
done
su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='callcoach'\"" | grep -q 1 \
    || su postgres -c "psql -qc \"CREATE USER callcoach PASSWORD 'callcoach' SUPERUSER\""
su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='callcoach_test'\"" | grep -q 1 \
    || su postgres -c "createdb -O callcoach callcoach_test"
log "PostgreSQL $VER is up"
echo "postgresql+psycopg://callcoach:callcoach@127.0.0.1:5432/callcoach_test"
