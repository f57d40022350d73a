#!/bin/sh
# Container entrypoint: resolve the capture interface, then exec the sensor (as PID 1, so it
# receives SIGTERM directly and flushes before exiting).
#
#   SENSOR_INTERFACE unset or empty  -> no --interface: packetbeat.interfaces.device of the config
#   SENSOR_INTERFACE=default_route   -> the interface of the lowest-metric IPv4 default route
#                                       (/proc/net/route), else of the IPv6 default route
#   SENSOR_INTERFACE=NAME            -> --interface NAME
#
# --interface is added only to `run`, and only when the arguments do not name one already.
set -eu

SENSOR=${SENSOR_BIN:-/usr/local/bin/sensor}

# Interface of the default route, from the kernel's routing table as this network namespace sees
# it (with hostNetwork: the node's). Prints nothing when there is no default route.
default_route_iface() {
  best_if='' best_metric=''
  if [ -r /proc/net/route ]; then
    # Iface Destination Gateway Flags RefCnt Use Metric Mask ...; flags bit 0x1 = RTF_UP.
    while read -r iface dest _gw flags _ref _use metric mask _rest; do
      [ "$dest" = 00000000 ] && [ "$mask" = 00000000 ] || continue
      [ $((0x$flags & 1)) -eq 1 ] || continue
      if [ -z "$best_metric" ] || [ "$metric" -lt "$best_metric" ]; then
        best_if=$iface best_metric=$metric
      fi
    done </proc/net/route
  fi
  if [ -z "$best_if" ] && [ -r /proc/net/ipv6_route ]; then
    # dest dest_len src src_len next_hop metric refcnt use flags iface (hex fields).
    while read -r dest dlen _src _slen _nh metric _ref _use _flags iface; do
      [ "$dest" = 00000000000000000000000000000000 ] && [ "$dlen" = 00 ] || continue
      [ "$iface" = lo ] && continue
      m=$((0x$metric))
      if [ -z "$best_metric" ] || [ "$m" -lt "$best_metric" ]; then
        best_if=$iface best_metric=$m
      fi
    done </proc/net/ipv6_route
  fi
  printf '%s' "$best_if"
}

has_interface_arg() {
  for a in "$@"; do
    case "$a" in
      -i | --interface | --interface=*) return 0 ;;
    esac
  done
  return 1
}

if [ "${1:-}" = run ] && [ -n "${SENSOR_INTERFACE:-}" ] && ! has_interface_arg "$@"; then
  iface=$SENSOR_INTERFACE
  if [ "$iface" = default_route ]; then
    iface=$(default_route_iface)
    if [ -z "$iface" ]; then
      echo "sensor-entrypoint: SENSOR_INTERFACE=default_route but there is no default route in" \
        "this network namespace (is the pod on hostNetwork?)" >&2
      exit 2
    fi
    echo "sensor-entrypoint: default route interface is $iface" >&2
  fi
  shift
  exec "$SENSOR" run --interface "$iface" "$@"
fi

exec "$SENSOR" "$@"
