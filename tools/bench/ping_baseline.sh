#!/bin/bash
# PING latency under snapshot.sh's SET load without any save: the baseline
# for its longest-PING figure. Usage: tools/bench/ping_baseline.sh BINARY
# (strata-server or redis-server); port 17060, work dir /tmp/pb.
b=$1
probe="python3 $(cd "$(dirname "$0")" && pwd)/snapshot_probe.py"
d=/tmp/pb; rm -rf $d; mkdir $d
($b --port 17060 --save '' --appendonly no --dir $d >$d/log 2>&1 &)
for i in $(seq 50); do redis-cli -p 17060 ping >/dev/null 2>&1 && break; sleep 0.1; done
$probe load 17060 1000000 200
redis-benchmark -p 17060 -t set -r 1000000 -d 200 -c 50 -l -q >/dev/null 2>&1 & BP=$!
sleep 2
rm -f $d/stop
$probe ping 17060 $d/stop $d/ping & PP=$!
sleep 4
touch $d/stop; wait $PP
kill $BP; wait $BP 2>/dev/null
echo "$(basename $b) no save, under load: ping max/p99/n: $(cat $d/ping)"
redis-cli -p 17060 shutdown nosave >/dev/null 2>&1; while redis-cli -p 17060 ping >/dev/null 2>&1; do sleep 0.2; done; sleep 0.5
