#!/bin/sh
# Container entrypoint: resolve the capture interface, then exec the sensor (as PID 1, so it
# receives SIGTERM directly and flushes before exiting).
#
#   SENSOR_INTERFACE unset or empty  -> no --interface: packetbeat.interfaces.device of the config
#   SENSOR_INTERFACE=NAME            -> --interface NAME; `default_route` is resolved by the
#                                       sensor (the interface of the lowest-metric IPv4 default
#                                       route in /proc/net/route, else of the IPv6 one)
#
# --interface is added only to `run`, and only when the arguments do not name one already.
set -eu

SENSOR=${SENSOR_BIN:-/usr/local/bin/sensor}

has_interface_arg() {
  for a in "$@"; do
    case "$a" in
      -i | --interface | --interface=*) return 0 ;;
    esac
  done
  return 1
}

if [ "${1:-}" = run ] && [ -n "${SENSOR_INTERFACE:-}" ] && ! has_interface_arg "$@"; then
  shift
  exec "$SENSOR" run --interface "$SENSOR_INTERFACE" "$@"
fi

exec "$SENSOR" "$@"
