# Shared set-up for scripts/test and scripts/demo: source it, then call the functions.
# Installs what a fresh Debian machine lacks, and starts a throwaway redis-server when none answers.

# Installs libhiredis-dev, libssl-dev, openssl, redis-server and redis-tools when any is missing (apt-get, as root
# or with sudo).
ensure_packages() {
    local missing=()
    pkg-config --exists hiredis 2>/dev/null || [ -f /usr/include/hiredis/hiredis.h ] || missing+=(libhiredis-dev)
    pkg-config --exists openssl 2>/dev/null || [ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
    # The TLS tests make their certificates with the openssl command.
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    # Only the tests need it: they validate docker-compose.yml with `docker-compose config`.
    [ "${NEED_COMPOSE:-0}" = 1 ] && ! command -v docker-compose >/dev/null 2>&1 && missing+=(docker-compose)
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian's package starts a system redis-server where systemd runs; tests do not rely on it.
}

# Whether a Redis server answers PING at the URL $1.
redis_answers() {
    timeout 3 redis-cli -u "$1" ping 2>/dev/null | grep -q PONG
}

# A TCP port on 127.0.0.1 that nothing listens on.
free_port() {
    local port
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# Starts redis-server on 127.0.0.1:$1 without persistence, waits until it answers, and records its PID so
# stop_started_redis can stop it.
start_redis() {
    local port=$1 dir
    dir=$(mktemp -d)
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
    for _ in $(seq 1 100); do
        redis_answers "redis://127.0.0.1:$port" && break
        sleep 0.1
    done
    redis_answers "redis://127.0.0.1:$port" || { echo "setup: redis-server did not start on $port" >&2; return 1; }
    STARTED_REDIS_PIDS+=("$(cat "$dir/redis.pid")")
    STARTED_REDIS_DIRS+=("$dir")
}

STARTED_REDIS_PIDS=()
STARTED_REDIS_DIRS=()

stop_started_redis() {
    local pid
    for pid in "${STARTED_REDIS_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${STARTED_REDIS_PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    for dir in "${STARTED_REDIS_DIRS[@]}"; do rm -rf "$dir"; done
    STARTED_REDIS_PIDS=()
    STARTED_REDIS_DIRS=()
}

# Makes REDIS_URL point at a server that answers: the given one, or a throwaway one started here when REDIS_URL
# was not set and nothing answers at the default address. A REDIS_URL that was set but does not answer is an error.
ensure_redis() {
    if [ -n "${REDIS_URL:-}" ]; then
        redis_answers "$REDIS_URL" && return 0
        echo "setup: nothing answers at REDIS_URL=$REDIS_URL (unset it to use a throwaway server)" >&2
        return 1
    fi
    if redis_answers "redis://127.0.0.1:6379"; then
        export REDIS_URL="redis://127.0.0.1:6379"
        return 0
    fi
    local port
    port=$(free_port)
    start_redis "$port"
    export REDIS_URL="redis://127.0.0.1:$port"
    echo "setup: started a throwaway redis-server at $REDIS_URL" >&2
}
