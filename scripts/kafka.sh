#!/usr/bin/env bash
# Starts a throwaway Apache Kafka broker (4.x, KRaft mode: one combined broker + controller) as a
# background JVM with its data in DIR, listening on 127.0.0.1:PORT (its controller on PORT+1),
# and waits until it serves Kafka requests. Prints the bootstrap address. Stop it with
# `kill $(cat DIR/pid)`. Started again on the same DIR, it restarts on its data (the storage is
# formatted only once).
#
# The broker comes from Maven Central (org.apache.kafka:kafka_2.13 and its runtime dependencies,
# listed in scripts/kafka/pom.xml), copied once into $HOME/.cache/dnma-tools/kafka-VERSION by
# Maven (about 15 s and 45 MB; Maven's own cache also lives under $HOME/.cache/dnma-tools/m2).
# Needs Java 17 or later and Maven.
#
#   scripts/kafka.sh DIR PORT
set -euo pipefail
dir="${1:?usage: kafka.sh DIR PORT}"
port="${2:?usage: kafka.sh DIR PORT}"
here="$(cd "$(dirname "$0")" && pwd)"
tools="${DNMA_TOOLS:-$HOME/.cache/dnma-tools}"
command -v java >/dev/null 2>&1 || { echo "kafka.sh: java is not installed (Java 17 or later)" >&2; exit 1; }
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")"
libs="$tools/kafka-$version/libs"
if [ ! -f "$libs/kafka_2.13-$version.jar" ]; then
  command -v mvn >/dev/null 2>&1 || { echo "kafka.sh: Maven (mvn) is needed once to fetch Kafka $version" >&2; exit 1; }
  echo "fetching Apache Kafka $version into $libs (once)..." >&2
  rm -rf "$libs.partial"
  mvn -q -B -f "$here/kafka/pom.xml" -Dmaven.repo.local="$tools/m2" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs.partial" >&2
  rm -rf "$libs" && mv "$libs.partial" "$libs"
fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
controller=$((port + 1))
cat > "$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Tests kill consumers with SIGKILL: their partitions move after this session timeout at most.
group.consumer.min.session.timeout.ms=1000
group.classic.min.session.timeout.ms=1000
auto.create.topics.enable=false
EOF
cat > "$dir/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $dir/broker.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ${DNMA_KAFKA_LOG_LEVEL:-WARN}
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
EOF
java_opts=(-Xms256m -Xmx${DNMA_KAFKA_HEAP:-1g} -XX:+UseG1GC -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$dir/log4j2.properties")
if [ ! -f "$dir/data/meta.properties" ]; then
  cluster="$(java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool random-uuid)"
  java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format --standalone \
    -t "$cluster" -c "$dir/server.properties" >>"$dir/format.log" 2>&1 \
    || { echo "kafka.sh: formatting the KRaft storage failed; see $dir/format.log" >&2; tail -20 "$dir/format.log" >&2; exit 1; }
fi
java "${java_opts[@]}" -cp "$libs/*" kafka.Kafka "$dir/server.properties" >>"$dir/stdout.log" 2>&1 &
echo $! > "$dir/pid"
# Ready when the broker answers an ApiVersions request (v0: 10-byte request; the answer starts
# with its length and the correlation id 1, then error code 0).
answers() {
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf '\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\x00\x00' >&3
  local reply
  reply="$(timeout 2 head -c 10 <&3 | od -An -tx1 | tr -d ' \n')" || true
  exec 3<&- 3>&-
  [ "${reply:8:12}" = "000000010000" ]
}
for _ in $(seq 1 300); do
  if answers 2>/dev/null; then
    echo "127.0.0.1:$port"
    exit 0
  fi
  kill -0 "$(cat "$dir/pid")" 2>/dev/null || { echo "kafka.sh: the broker exited; see $dir/broker.log" >&2; tail -30 "$dir/stdout.log" "$dir/broker.log" >&2 || true; exit 1; }
  sleep 0.2
done
echo "kafka.sh: the broker did not answer on port $port within 60 s; see $dir/broker.log" >&2
exit 1
