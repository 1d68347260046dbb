#!/usr/bin/env bash
# dev-zookeeper.sh [PORT]
#
# Runs a throw-away standalone ZooKeeper for trying the relay by hand (the
# README walkthrough): Debian's packaged jars run directly with java, as the
# tests' internal/zktest does, with a fresh data dir under a temp dir, on
# 127.0.0.1:PORT (default: a free port). It prints the connect string on
# stdout once the server serves, then stays in the foreground; Ctrl-C (or
# SIGTERM) stops the server and deletes the temp dir.
#
#   scripts/dev-zookeeper.sh            # -> 127.0.0.1:41234
#   scripts/dev-zookeeper.sh 2181       # -> 127.0.0.1:2181
#   ZK=$(scripts/dev-zookeeper.sh | head -n1)   # in a script (keep it running)
#
# Needs: apt-get install -y --no-install-recommends zookeeper
#        (libzookeeper-java, libslf4j-java and a JRE would do)
#
# Environment (optional):
#   ZK_TICK_TIME  tickTime in ms (default 2000; sessions may last 2x..20x it)
#   ZK_KEEP=1     keep the temp dir (zoo.cfg, data, zookeeper.log) on exit
set -euo pipefail

die() { echo "dev-zookeeper: $*" >&2; exit 1; }

ZKJAR=/usr/share/java/zookeeper.jar
SLF4J=/usr/share/java/slf4j-simple.jar
JAVA="$(command -v java || true)"
[[ -n "$JAVA" ]] || die "java not found (apt-get install -y --no-install-recommends zookeeper)"
for jar in "$ZKJAR" "$SLF4J"; do
  [[ -r "$jar" ]] || die "$jar not found (apt-get install -y --no-install-recommends zookeeper)"
done

HOST=127.0.0.1
PORT="${1:-}"
if [[ -z "$PORT" ]]; then
  # A free port: ask the kernel for one (python3 is in every Debian base
  # that has a JRE; fall back to a random high port that nothing answers on).
  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || true)"
  if [[ -z "$PORT" ]]; then
    for _ in $(seq 1 50); do
      PORT=$(( 20000 + RANDOM % 40000 ))
      (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null || break
    done
  fi
fi
[[ "$PORT" =~ ^[0-9]+$ ]] && (( PORT > 0 && PORT < 65536 )) || die "port $PORT: want 1..65535"
if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
  die "something already listens on $HOST:$PORT"
fi

DIR="$(mktemp -d /tmp/dev-zookeeper.XXXXXX)"
mkdir -p "$DIR/data"
cat >"$DIR/zoo.cfg" <<EOF
tickTime=${ZK_TICK_TIME:-2000}
dataDir=$DIR/data
clientPort=$PORT
clientPortAddress=$HOST
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
autopurge.purgeInterval=0
EOF

# Debian's zookeeper.jar lists its dependencies in its manifest but has no
# SLF4J binding: without slf4j-simple the server logs nothing.
"$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
  -Dorg.slf4j.simpleLogger.showDateTime=true \
  -Dzookeeper.jmx.log4j.disable=true \
  -cp "$ZKJAR:$SLF4J" org.apache.zookeeper.server.ZooKeeperServerMain "$DIR/zoo.cfg" \
  >"$DIR/zookeeper.log" 2>&1 </dev/null &
PID=$!

stop() {
  trap - INT TERM EXIT
  if kill -0 "$PID" 2>/dev/null; then
    kill "$PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$PID" 2>/dev/null || true
  fi
  wait "$PID" 2>/dev/null || true
  if [[ "${ZK_KEEP:-}" == 1 ]]; then
    echo "dev-zookeeper: stopped; kept $DIR" >&2
  else
    rm -rf "$DIR"
    echo "dev-zookeeper: stopped" >&2
  fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Ready when "srvr" reports a mode (it says "not currently serving" before).
srvr() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$PORT && printf srvr >&3 && cat <&3" 2>/dev/null || true; }
for _ in $(seq 1 600); do
  kill -0 "$PID" 2>/dev/null || { tail -n 30 "$DIR/zookeeper.log" >&2; die "the server exited during startup"; }
  srvr | grep -q '^Mode: standalone' && break
  sleep 0.05
done
srvr | grep -q '^Mode: standalone' || { tail -n 30 "$DIR/zookeeper.log" >&2; die "not serving after 30s"; }

echo "$HOST:$PORT"
echo "dev-zookeeper: serving on $HOST:$PORT (pid $PID, log $DIR/zookeeper.log); Ctrl-C stops it" >&2
wait "$PID"
