#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1 for the tests, on any machine:
#   running                -> nothing to do
#   installed but stopped  -> start them (PostgreSQL: Debian's pg_ctlcluster; Redis: redis-server)
#   absent, Debian/Ubuntu  -> install the distribution's packages (as .ci/install-chromium.sh does
#                             for Chromium), let the tests in (trust on 127.0.0.1), start them
#   absent, other systems  -> stop at once, naming the packages to install
# tests/test_services_script.py runs this with stub commands to check each case.
set -euo pipefail

PG_PORT=5432
REDIS_PORT=6379
# Overridable for the tests only.
OS_RELEASE=${UPDATEDESK_OS_RELEASE:-/etc/os-release}
PG_ETC=${UPDATEDESK_PG_ETC:-/etc/postgresql}
WAIT_TRIES=60 # x 0.5 s: a first start of a new cluster takes a few seconds

say() { echo "services: $*"; }
die() {
    echo "services: ERROR: $*" >&2
    exit 1
}

as_root() {
    if [ "$EUID" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root or sudo to run: $*"
    fi
}

has() { command -v "$1" >/dev/null 2>&1; }

pg_running() { has pg_isready && pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; }
redis_running() { has redis-cli && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; }
pg_installed() { has pg_ctlcluster || has pg_ctl || has postgres; }
redis_installed() { has redis-server; }

# ID and ID_LIKE of /etc/os-release, lower case, on one line ("" when unknown).
os_ids() {
    local id="" like="" key value
    if [ -r "$OS_RELEASE" ]; then
        while IFS='=' read -r key value; do
            value=${value//\"/}
            case $key in
                ID) id=$value ;;
                ID_LIKE) like=$value ;;
            esac
        done <"$OS_RELEASE"
    fi
    echo "$id $like" # lower case already, by the os-release format
}

is_debian_like() {
    local word
    has apt-get || return 1
    for word in $(os_ids); do
        case $word in debian | ubuntu) return 0 ;; esac
    done
    return 1
}

# The exact install command for this system, for what is missing ($1: "postgresql", "redis" or both).
install_hint() {
    local wants=$1 id
    id=$(os_ids)
    id=${id%% *}
    local pg="" redis=""
    case $id in
        fedora | rhel | centos | rocky | almalinux)
            pg="postgresql-server"; redis="redis"
            echo -n "sudo dnf install" ;;
        opensuse* | sles)
            pg="postgresql-server"; redis="redis"
            echo -n "sudo zypper install" ;;
        alpine)
            pg="postgresql postgresql-client"; redis="redis"
            echo -n "sudo apk add" ;;
        arch | manjaro)
            pg="postgresql"; redis="valkey"
            echo -n "sudo pacman -S" ;;
        *)
            if [[ ${OSTYPE:-} == darwin* ]]; then
                pg="postgresql@15"; redis="redis"
                echo -n "brew install"
            else
                echo -n "install a PostgreSQL 15 server and Redis 7 with your package manager:"
                pg="postgresql"; redis="redis"
            fi ;;
    esac
    case $wants in *postgresql*) echo -n " $pg" ;; esac
    case $wants in *redis*) echo -n " $redis" ;; esac
    echo
}

# Let the test suite in as `postgres` over 127.0.0.1 without a password, on a cluster this script
# has just installed (an existing server's settings are never touched).
trust_local_connections() {
    local hba
    for hba in "$PG_ETC"/*/main/pg_hba.conf; do
        [ -f "$hba" ] || continue
        as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
        say "new test server: trust for 127.0.0.1 and ::1 in $hba"
    done
}

# "VERSION NAME" of the Debian cluster on our port ("" when there is none).
pg_cluster() {
    local version name port _rest
    while read -r version name port _rest; do
        if [ "$port" = "$PG_PORT" ]; then
            echo "$version $name"
            return
        fi
    done < <(pg_lsclusters --no-header)
}

start_postgres() {
    if ! has pg_ctlcluster; then
        die "PostgreSQL is installed but does not answer on 127.0.0.1:$PG_PORT; start it (e.g. \`sudo systemctl start postgresql\`, or \`brew services start postgresql@15\`)"
    fi
    local cluster
    cluster=$(pg_cluster)
    [ -n "$cluster" ] || die "PostgreSQL is installed but has no cluster on port $PG_PORT; create one with \`sudo pg_createcluster --start <version> main\`"
    say "PostgreSQL is down; starting cluster $cluster"
    # shellcheck disable=SC2086  # $cluster is VERSION NAME
    as_root pg_ctlcluster --skip-systemctl-redirect $cluster start || true
}

start_redis() {
    say "Redis is down; starting it"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
        --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/updatedesk-redis.log"
}

wait_for() { # wait_for NAME COMMAND...
    local name=$1 i
    shift
    for ((i = 0; i < WAIT_TRIES; i++)); do
        if "$@"; then
            say "$name is up"
            return 0
        fi
        sleep 0.5
    done
    die "$name did not come up on 127.0.0.1"
}

missing=()
pg_running || pg_installed || missing+=(postgresql)
redis_running || redis_installed || missing+=(redis)

fresh_postgres=""
if [ ${#missing[@]} -gt 0 ]; then
    if ! is_debian_like; then
        die "${missing[*]} not installed, and this is not Debian/Ubuntu. Install: $(install_hint "${missing[*]}"); then run \`make test\` again (PostgreSQL on 127.0.0.1:$PG_PORT, user postgres without password, or set UPDATEDESK_TEST_POSTGRES; Redis on 127.0.0.1:$REDIS_PORT)"
    fi
    packages=()
    for wanted in "${missing[@]}"; do
        case $wanted in
            postgresql) packages+=(postgresql) fresh_postgres=1 ;;
            redis) packages+=(redis-server) ;;
        esac
    done
    say "installing ${packages[*]} from the distribution's packages"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"
    if [ -n "$fresh_postgres" ]; then
        trust_local_connections
    fi
fi

if ! pg_running; then
    start_postgres
elif [ -n "$fresh_postgres" ] && has pg_ctlcluster; then
    # The package started the new server before pg_hba.conf was changed: read it again.
    # shellcheck disable=SC2046
    as_root pg_ctlcluster --skip-systemctl-redirect $(pg_cluster) reload || true
fi
wait_for PostgreSQL pg_running

if ! redis_running; then
    start_redis
fi
wait_for Redis redis_running
