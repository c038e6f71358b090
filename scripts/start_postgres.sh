#!/usr/bin/env bash
# Start a local PostgreSQL (Debian cluster) and create the test role and database; prints the URL.
set -euo pipefail
log() { printf '[postgres] %s\n' "$*" >&2; }
# Only the URL goes to stdout (callers capture it): PostgreSQL's own chatter ("Removed stale pid file.")
# goes to stderr. A block redirect, not `exec 3>&1`: the postmaster must not inherit the caller's pipe.
{
VER=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$VER main$"; then
    pg_createcluster "$VER" main >/dev/null
fi
clear_stale_socket_locks() {  # left by a postmaster that was killed: they block the next start
    local lock pid
    for lock in /var/run/postgresql/.s.PGSQL.*.lock; do
        [[ -f "$lock" ]] || continue
        pid=$(head -n 1 "$lock")
        if ! kill -0 "$pid" 2>/dev/null; then log "removing stale $lock (pid $pid is gone)"; rm -f "$lock"; fi
    done
}
if ! pg_lsclusters -h | grep -q "^$VER *main *[0-9]* *online"; then
    clear_stale_socket_locks
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
} >&2
echo "postgresql+psycopg://callcoach:callcoach@127.0.0.1:5432/callcoach_test"
