#!/usr/bin/env bash
# Installs what the build and the tests need, idempotently (see ../shared/docs/TOOLCHAIN.md).
# Safe to run many times: every step checks first.
set -euo pipefail

need_apt=()
for pkg in clang llvm m4 libelf-dev zlib1g-dev libbpf-dev libssl-dev pkg-config iproute2 ethtool tcpdump bpftool python3; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
# Real servers and clients for the network-namespace end-to-end tests (util-linux: setpriv and
# prlimit for the privilege and memlock tests).
for pkg in nginx dnsmasq-base redis-server redis-tools curl bind9-dnsutils iputils-ping util-linux; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages must not start their services on the host: the tests start their own servers
  # inside network namespaces.
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [ -e "$policy" ] && had_policy=1
  [ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; }
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  [ "$had_policy" = 1 ] || rm -f "$policy"
fi

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rustup component list --toolchain nightly --installed | grep -q '^rust-src' \
  || rustup component add rust-src --toolchain nightly

# bpf-linker linked against nightly rustc's own LLVM, so the versions always match.
NL=$(rustc +nightly --print sysroot)/lib
SO=$(basename "$(ls "$NL"/libLLVM.so.*-rust-* | head -n1)")
mkdir -p /opt/rust-llvm/lib
ln -sf "$NL/$SO" /opt/rust-llvm/lib/libLLVM.so
ln -sf "$NL/$SO" /opt/rust-llvm/lib/"$SO"
stamp=/opt/rust-llvm/bpf-linker.built-for
if ! command -v bpf-linker >/dev/null 2>&1 || [ "$(cat "$stamp" 2>/dev/null)" != "$SO" ]; then
  echo "setup: building bpf-linker against $SO"
  LLVM_PREFIX=/opt/rust-llvm cargo install --force bpf-linker@0.13.0 --no-default-features --features llvm-22
  echo "$SO" > "$stamp"
fi
echo "setup: toolchain ready"

# tansu: a Kafka-protocol broker for the Kafka output's end-to-end tests (shared/docs/TOOLCHAIN.md).
# Built once (~22 min, 1.7 GB RAM) and cached in ~/.cargo/bin; skipped when it already runs.
if ! tansu --version >/dev/null 2>&1 && ! "$HOME/.cargo/bin/tansu" --version >/dev/null 2>&1; then
  echo "setup: building tansu 0.6.0 (Kafka broker for tests; ~22 min, once)"
  cargo install tansu@0.6.0 --locked --features dynostore,libsql
fi
echo "setup: tansu ready"

# cargo-fuzz for the fuzz targets in sensor/fuzz (`cargo xtask fuzz`, CI smoke run).
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "setup: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
echo "setup: cargo-fuzz ready"
