#!/usr/bin/env python3
"""Build the seed corpora of the fuzz targets from capture files.

    sensor/fuzz/seeds.py [PCAP_DIR ...]        (default: /work/shared/corpus)

Writes sensor/fuzz/corpus/<target>/seed-* (git-ignored). Per protocol target, every flow of
every capture becomes seeds in the input format of `sensor_fuzz` (src/lib.rs docs): one chunked
seed (one data op per TCP segment / datagram) and one one-shot seed. The `decode` target gets
the frames of each capture, the `pcap` target the (small) capture files themselves.

Dependency-free on purpose (no scapy): classic pcap and pcapng, Ethernet (+802.1Q), Linux SLL
and SLL2, BSD loopback, raw IP; IPv4/IPv6, TCP/UDP/ICMP. TCP retransmissions are dropped by
sequence number; IP fragments other than the first are ignored.
"""

import hashlib
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
MAX_SEED = 64 * 1024
MAX_PCAP_SEED = 64 * 1024

# Flag bits of byte 0 (src/lib.rs `flag`).
CHUNKED, UDP_OR_V6, SEND_REQUEST, SEND_RESPONSE = 1, 2, 4, 8
KEEP_NULL, MAP_TO_ECS, SERVER_FIRST, ALT_CONFIG = 16, 32, 64, 128

# target -> (transport, default ports) as in sensor/src/proto/*/mod.rs
PROTOS = {
    "dns": ("tcpudp", [53]),
    "http": ("tcp", [80, 8080, 8000, 5000, 8002]),
    "dhcpv4": ("udp", [67, 68]),
    "tls": ("tcp", [443, 993, 995, 5223, 8443, 8883, 9243]),
    "redis": ("tcp", [6379]),
    "pgsql": ("tcp", [5432]),
    "mysql": ("tcp", [3306, 3307]),
    "memcache": ("tcpudp", [11211]),
    "mongodb": ("tcp", [27017]),
    "cassandra": ("tcp", [9042]),
    "amqp": ("tcp", [5672]),
    "thrift": ("tcp", [9090]),
    "nfs": ("tcpudp", [2049]),
    "sip": ("tcpudp", [5060]),
}
DIR_ALIASES = {"dhcp": "dhcpv4"}
LINK_INDEX = {1: 0, 113: 1, 276: 2, 0: 3, 108: 3, 101: 4, 12: 4, 14: 4, 228: 5, 229: 6}


def read_capture(path):
    """Yield (linktype, frame bytes)."""
    data = open(path, "rb").read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        link = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
        off = 24
        while off + 16 <= len(data):
            _, _, caplen, _ = struct.unpack(e + "IIII", data[off:off + 16])
            off += 16
            yield link, data[off:off + caplen]
            off += caplen
    elif magic == b"\x0a\x0d\x0d\x0a":
        e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        links = []
        off = 0
        while off + 12 <= len(data):
            btype, blen = struct.unpack(e + "II", data[off:off + 8])
            if blen < 12:
                return
            body = data[off + 8:off + blen - 4]
            if btype == 0x0A0D0D0A:
                links = []
            elif btype == 1:
                links.append(struct.unpack(e + "H", body[:2])[0])
            elif btype == 6:
                iface, _, _, caplen, _ = struct.unpack(e + "IIIII", body[:20])
                if iface < len(links):
                    yield links[iface], body[20:20 + caplen]
            elif btype == 3 and links:
                yield links[0], body[4:]
            off += blen


def l3(link, f):
    """(ethertype-ish version, l3 bytes) or None."""
    if link == 1:
        et, off = struct.unpack(">H", f[12:14])[0] if len(f) >= 14 else None, 14
        if et is None:
            return None
        while et in (0x8100, 0x88A8, 0x9100) and len(f) >= off + 4:
            et = struct.unpack(">H", f[off + 2:off + 4])[0]
            off += 4
        return f[off:]
    if link == 113:
        return f[16:]
    if link == 276:
        return f[20:]
    if link in (0, 108):
        return f[4:]
    return f


def l4(ip):
    """(src, dst, proto, l4 bytes) or None."""
    if not ip:
        return None
    v = ip[0] >> 4
    if v == 4 and len(ip) >= 20:
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        frag = struct.unpack(">H", ip[6:8])[0]
        if frag & 0x1FFF:
            return None
        return ip[12:16], ip[16:20], ip[9], ip[ihl:max(total, ihl)]
    if v == 6 and len(ip) >= 40:
        plen = struct.unpack(">H", ip[4:6])[0]
        nh, off = ip[6], 40
        while nh in (0, 43, 60, 44) and len(ip) >= off + 8:
            if nh == 44:
                if struct.unpack(">H", ip[off + 2:off + 4])[0] & 0xFFF8:
                    return None
                nh, off = ip[off], off + 8
            else:
                nh, off = ip[off], off + (ip[off + 1] + 1) * 8
        return ip[8:24], ip[24:40], nh, ip[off:40 + plen]
    return None


def proto_of(sport, dport, transport, fallback):
    for name, (tr, ports) in PROTOS.items():
        ok = tr == "tcpudp" or tr == transport
        if ok and dport in ports:
            return name, True
        if ok and sport in ports:
            return name, False
    if fallback in PROTOS and PROTOS[fallback][0] in ("tcpudp", transport):
        return fallback, None
    return None, None


def split_byte(total, k):
    """Byte b with total * b // 255 == k, or the nearest."""
    if total == 0:
        return 0
    return min(range(256), key=lambda b: abs(total * b // 255 - k))


def one_shot_tcp(flags, ops):
    to_s = b"".join(d for c, d in ops if not c)
    to_c = b"".join(d for c, d in ops if c)
    total = to_s + to_c
    return bytes([flags & ~CHUNKED, split_byte(len(total), len(to_s))]) + total


def one_shot_dgrams(flags, ops):
    out = bytearray([flags & ~CHUNKED])
    for c, d in ops:
        d = d[:0x7FFF]
        out += struct.pack(">H", len(d) | (0x8000 if c else 0)) + d
    return bytes(out)


def chunked(flags, ops):
    out = bytearray([flags | CHUNKED])
    for c, d in ops:
        for i in range(0, max(len(d), 1), 0xFFFF):
            part = d[i:i + 0xFFFF]
            out += bytes([0x3F | (0x40 if c else 0)]) + struct.pack(">H", len(part)) + part
    return bytes(out)


def write(target, blob):
    blob = blob[:MAX_SEED]
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(blob).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


def process(path, fallback):
    flows = {}  # key -> dict
    icmp = []  # (v6, sender, msg)
    frames = []
    for link, f in read_capture(path):
        if link in LINK_INDEX:
            frames.append((link, f))
        ip = l3(link, f)
        r = l4(ip) if ip is not None else None
        if r is None:
            continue
        src, dst, proto, seg = r
        if proto in (1, 58):
            icmp.append((proto == 58, src, seg))
            continue
        if proto == 6 and len(seg) >= 20:
            sport, dport, seq = struct.unpack(">HHI", seg[:8])
            doff = (seg[12] >> 4) * 4
            flags = seg[13]
            payload, tr = seg[doff:], "tcp"
        elif proto == 17 and len(seg) >= 8:
            sport, dport = struct.unpack(">HH", seg[:4])
            payload, tr, seq, flags = seg[8:], "udp", 0, 0
        else:
            continue
        a, b = (src, sport), (dst, dport)
        key = (tr,) + tuple(sorted([a, b]))
        fl = flows.setdefault(key, {"tr": tr, "first": a, "syn": None, "ops": [], "next": {}})
        if tr == "tcp" and flags & 0x02 and not flags & 0x10:
            fl["syn"] = a
        if tr == "tcp":
            nxt = fl["next"].get(a)
            if flags & 0x02:
                fl["next"][a] = (seq + 1) & 0xFFFFFFFF
                continue
            if nxt is not None:
                delta = (seq - nxt) & 0xFFFFFFFF
                if delta >= 0x80000000:  # before the expected byte: retransmission/overlap
                    back = 0x100000000 - delta
                    if back >= len(payload):
                        continue
                    payload, seq = payload[back:], nxt
            fl["next"][a] = (seq + len(payload)) & 0xFFFFFFFF
            if not payload:
                continue
        fl["ops"].append((a, payload))

    for fl in flows.values():
        if not fl["ops"]:
            continue
        ends = {e for e, _ in fl["ops"]} | {fl["first"]}
        first = fl["syn"] or fl["first"]
        other = next((e for e in ends if e != first), None)
        name, to_server = proto_of(first[1], other[1] if other else 0, fl["tr"], fallback)
        if name is None:
            continue
        client = other if to_server is False and other and not fl["syn"] else first
        ops = [(e != client, d) for e, d in fl["ops"]]
        base = UDP_OR_V6 if fl["tr"] == "udp" and PROTOS[name][0] == "tcpudp" else 0
        server_first = ops[0][0]
        for extra in (0, SEND_REQUEST | SEND_RESPONSE | MAP_TO_ECS):
            flags = base | extra
            write(name, chunked(flags, ops))
            if fl["tr"] == "tcp":
                write(name, one_shot_tcp(flags | (SERVER_FIRST if server_first else 0), ops))
            else:
                write(name, one_shot_dgrams(flags, ops))

    by_v6 = {}
    for v6, src, msg in icmp:
        by_v6.setdefault(v6, []).append((src, msg))
    for v6, msgs in by_v6.items():
        first = msgs[0][0]
        ops = [(s != first, m) for s, m in msgs]
        flags = UDP_OR_V6 if v6 else 0
        write("icmp", one_shot_dgrams(flags, ops))
        write("icmp", chunked(flags, ops))

    if frames:
        by_link = {}
        for link, f in frames:
            by_link.setdefault(LINK_INDEX[link], []).append(f)
        for idx, fs in by_link.items():
            blob = bytearray([idx])
            for f in fs[:64]:
                f = f[:0x3FFF]
                blob += struct.pack(">H", len(f)) + f
            write("decode", bytes(blob))
    if os.path.getsize(path) <= MAX_PCAP_SEED:
        d = os.path.join(CORPUS, "pcap")
        os.makedirs(d, exist_ok=True)
        shutil.copyfile(path, os.path.join(d, "seed-" + os.path.basename(path)))


def main():
    roots = sys.argv[1:] or ["/work/shared/corpus"]
    n = 0
    for root in roots:
        for dirpath, _, files in os.walk(root):
            fallback = os.path.basename(dirpath)
            fallback = DIR_ALIASES.get(fallback, fallback)
            for fn in sorted(files):
                if fn.endswith((".pcap", ".pcapng", ".cap")):
                    try:
                        process(os.path.join(dirpath, fn), fallback)
                        n += 1
                    except (struct.error, IndexError, ValueError) as e:
                        print(f"skip {fn}: {e}", file=sys.stderr)
    for t in sorted(os.listdir(CORPUS)) if os.path.isdir(CORPUS) else []:
        print(f"{t:10} {len(os.listdir(os.path.join(CORPUS, t)))} seeds")
    print(f"{n} captures", file=sys.stderr)


if __name__ == "__main__":
    main()
