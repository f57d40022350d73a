#!/bin/bash
# bench-live: live-capture throughput of the sensor on a veth pair between two network
# namespaces created here (sb-tx, sb-rx; 198.18.251.0/24) and deleted on exit. A benchmark,
# not a test: `cargo xtask bench-live [OUTDIR]` (builds the sensor first), as root.
#
# The sender (tcpreplay --topspeed of $PCAP, default bench-out/mixed.pcap from
# ../shared/bench/make-bench-pcap: real traffic of every protocol) runs in sb-tx pinned to
# CPU 0 for $DUR seconds; in sb-rx one receiver at a time, pinned to CPU 1:
#   sensor       `sensor run --span`, every protocol on: XDP counts every flow, redirects the
#                protocols' ports to the AF_XDP worker, drops the rest; events to /dev/null
#   sensor-drop  the same XDP program with every protocol off: count every flow, XDP_DROP all
#                (the XDP_DROP rate of this link, with the flow accounting the sensor always does)
#   tcpdump      tcpdump -w /dev/null (AF_PACKET, TPACKET_V3)
#   none         nothing attached (the veth receive counter)
# Frames carry the capture's MAC addresses: like a SPAN port, the receiving stack drops them.
# On veth the receive softirq (and XDP) runs on the sender's CPU.
#
# Per run: sent pps (sb-tx0 tx counter / send time); seen = packets the XDP program saw
# (sensor_xdp_packets_total{kind="packets"}) or tcpdump "captured"; delivered = frames the
# workers received (sensor_afxdp_rx_frames_total); lost = AF_XDP ring-full + fill-ring-empty +
# failed redirects (sensor) or "dropped by kernel" (tcpdump). Medians over REPS (default 3).
#
# PPS=N sends at N packets/s instead of --topspeed (to find the loss-free rate).
#
# usage: bench-live.sh SENSOR_BIN [OUTDIR]   (env DUR (≤ 10), REPS, RECEIVERS, PCAP, PPS)
set -u
BIN=${1:?sensor binary}
OUT=${2:-bench-out/live-sensor}
DUR=${DUR:-6}
REPS=${REPS:-3}
RECEIVERS=${RECEIVERS:-none,sensor,sensor-drop,tcpdump}
PCAP=${PCAP:-bench-out/mixed.pcap}
TX=sb-tx RX=sb-rx DTX=sb-tx0 DRX=sb-rx0
[ "$DUR" -le 10 ] || { echo "DUR must be <= 10" >&2; exit 2; }
[ -f "$PCAP" ] || { echo "no $PCAP: ../shared/bench/make-bench-pcap --out $PCAP --packets 2000000" >&2; exit 2; }
command -v tcpreplay >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q tcpreplay >/dev/null
mkdir -p "$OUT"
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  ip netns del $TX 2>/dev/null; ip netns del $RX 2>/dev/null
}
trap cleanup EXIT INT TERM

ip netns del $TX 2>/dev/null; ip netns del $RX 2>/dev/null
ip netns add $TX && ip netns add $RX || exit 1
ip link add $DTX netns $TX type veth peer name $DRX netns $RX || exit 1
ip -n $TX addr add 198.18.251.1/24 dev $DTX
ip -n $RX addr add 198.18.251.2/24 dev $DRX
for ns in $TX $RX; do ip -n $ns link set lo up; done
ip -n $TX link set $DTX up; ip -n $RX link set $DRX up
ip netns exec $RX sysctl -qw net.ipv6.conf.all.disable_ipv6=1
sleep 1

cnt() { ip netns exec "$1" cat /sys/class/net/"$2"/statistics/"$3"; }
metric() { # file name-with-labels → value (0 when absent)
  awk -v k="$2" '$1 == k {print $2; f=1} END {if (!f) print 0}' "$1"
}
metric_sum() { # file name-prefix → sum over labels
  awk -v k="$2" 'index($1, k) == 1 {s += $2} END {print s + 0}' "$1"
}
wait_for() {  # file pattern timeout_s
  local i=0
  while [ $i -lt $(( $3 * 10 )) ]; do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; i=$((i+1)); done
  return 1
}

ALL_OFF="packetbeat.protocols=["
for p in icmp dhcpv4 dns http tls redis pgsql mysql memcache mongodb cassandra amqp thrift nfs sip; do
  ALL_OFF+="{type: $p, enabled: false},"
done
ALL_OFF="${ALL_OFF%,}]"

run_one() {
  local rcv=$1 rep=$2 d=$OUT/$1.$2 seen=0 delivered=0 lost=0 extra="" t0 t1 tx0 tx1 sent secs rx0 rx1 rp=""
  rm -rf "$d"; mkdir -p "$d"
  rx0=$(cnt $RX $DRX rx_packets)
  case $rcv in
    sensor|sensor-drop)
      local cfg=()
      [ $rcv = sensor-drop ] && cfg=(-E "$ALL_OFF")
      ip netns exec $RX "$BIN" run --interface $DRX --span --cpus 1 --summary --output file:/dev/null \
        -E http.enabled=true -E http.host=127.0.0.1 -E logging.metrics.enabled=false "${cfg[@]}" \
        >"$d/stdout.txt" 2>"$d/sensor.txt" &
      rp=$!; PIDS+=($rp)
      wait_for "$d/sensor.txt" "capturing on" 30 || extra="(sensor did not start: $(tail -1 "$d/sensor.txt")) " ;;
    tcpdump)
      ip netns exec $RX taskset -c 1 tcpdump -i $DRX -n -s 262144 -B 65536 -w /dev/null >"$d/tcpdump.txt" 2>&1 &
      rp=$!; PIDS+=($rp)
      wait_for "$d/tcpdump.txt" "listening on" 5; sleep 0.5 ;;
  esac
  tx0=$(cnt $TX $DTX tx_packets)
  t0=$(date +%s.%N)
  local rate=(--topspeed)
  [ -n "${PPS:-}" ] && rate=(--pps="$PPS")
  ip netns exec $TX taskset -c 0 timeout -s INT "$DUR" tcpreplay -i $DTX "${rate[@]}" -q "$PCAP" >"$d/sender.txt" 2>&1
  t1=$(date +%s.%N)
  tx1=$(cnt $TX $DTX tx_packets)
  sent=$((tx1 - tx0)); secs=$(echo "$t1 - $t0" | bc -l)
  if [ "${rcv#sensor}" != "$rcv" ]; then
    sleep 2.5   # the workers drain their rings; counters are published every second
    ip netns exec $RX curl -sf http://127.0.0.1:5066/metrics >"$d/metrics.txt"
    seen=$(metric "$d/metrics.txt" 'sensor_xdp_packets_total{kind="packets"}')
    delivered=$(metric_sum "$d/metrics.txt" 'sensor_afxdp_rx_frames_total')
    lost=$(( $(metric_sum "$d/metrics.txt" 'sensor_afxdp_rx_ring_full_frames_total') \
           + $(metric_sum "$d/metrics.txt" 'sensor_afxdp_fill_ring_empty_frames_total') \
           + $(metric "$d/metrics.txt" 'sensor_xdp_verdict_packets_total{verdict="redirect_failed"}') ))
    extra+="redirected $(metric "$d/metrics.txt" 'sensor_xdp_verdict_packets_total{verdict="redirected"}')"
    extra+=" xdp_dropped $(metric "$d/metrics.txt" 'sensor_xdp_verdict_packets_total{verdict="dropped"}')"
    extra+=" transactions $(metric_sum "$d/metrics.txt" 'sensor_protocol_transactions_total')"
    extra+=" kernel_flows $(metric "$d/metrics.txt" 'sensor_flow_kernel_active_flows')"
    extra+=" rss_MB $(( $(metric "$d/metrics.txt" 'sensor_process_resident_memory_bytes' | cut -d. -f1) >> 20 ))"
  fi
  if [ -n "$rp" ]; then
    kill -INT "$rp" 2>/dev/null
    for i in $(seq 1 300); do kill -0 "$rp" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$rp" 2>/dev/null
    unset 'PIDS[-1]'
  fi
  rx1=$(cnt $RX $DRX rx_packets)
  case $rcv in
    none) seen=$((rx1 - rx0)) ;;
    tcpdump) seen=$(awk '/packets captured/{print $1}' "$d/tcpdump.txt"); lost=$(awk '/dropped by kernel/{print $1}' "$d/tcpdump.txt")
             delivered=$seen ;;
  esac
  printf '%-12s sent %9d in %5.2fs = %8.0f pps | seen %9d delivered %9d lost %8d | %s\n' \
    "$rcv" "$sent" "$secs" "$(echo "$sent / $secs" | bc -l)" "$seen" "$delivered" "$lost" "$extra" | tee -a "$OUT/summary.txt"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rcv" "$rep" "$sent" "$secs" "${seen:-0}" "${delivered:-0}" "${lost:-0}" >> "$OUT/runs.tsv"
}

: > "$OUT/summary.txt"
echo "# bench-live $(date -u +%FT%TZ) DUR=$DUR REPS=$REPS PPS=${PPS:-topspeed} PCAP=$PCAP $(uname -r) nproc=$(nproc)" | tee -a "$OUT/summary.txt"
printf 'receiver\trep\tsent\tsecs\tseen\tdelivered\tlost\n' > "$OUT/runs.tsv"
for r in $(seq 1 "$REPS"); do
  for rcv in ${RECEIVERS//,/ }; do
    run_one "$rcv" "$r"
  done
done
python3 - "$OUT/runs.tsv" <<'PY' | tee -a "$OUT/summary.txt"
import csv, statistics, sys, collections
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
g = collections.OrderedDict()
for r in rows:
    g.setdefault(r['receiver'], []).append(r)
print('\n%-12s %4s %12s %12s %16s %10s' % ('receiver', 'runs', 'sent kpps', 'seen kpps',
                                          'delivered kpps', 'lost %'))
for rc, rs in g.items():
    med = lambda k: statistics.median(int(r[k] or 0) / float(r['secs']) / 1e3 for r in rs)
    lost = sum(int(r['lost'] or 0) for r in rs)
    tot = sum(int(r['delivered'] or 0) + int(r['lost'] or 0) for r in rs)
    print('%-12s %4d %12.0f %12.0f %16.0f %10.3f' % (rc, len(rs), med('sent'), med('seen'),
          med('delivered'), 100.0 * lost / tot if tot else 0))
PY
