//! Event fields of a DHCPv4 message, as Packetbeat's `dhcpv4` plugin writes them (names and
//! value formats of the insomniacslk/dhcp library it uses), plus relay agent information.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::parse::{self, Message};

/// Message type names (option 53), Packetbeat writes them lowercase.
pub fn message_type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        1 => "DISCOVER",
        2 => "OFFER",
        3 => "REQUEST",
        4 => "DECLINE",
        5 => "ACK",
        6 => "NAK",
        7 => "RELEASE",
        8 => "INFORM",
        9 => "FORCERENEW",
        10 => "LEASEQUERY",
        11 => "LEASEUNASSIGNED",
        12 => "LEASEUNKNOWN",
        13 => "LEASEACTIVE",
        14 => "BULKLEASEQUEARY",
        15 => "LEASEQUERYDONE",
        16 => "ACTIVELEASEQUERY",
        17 => "LEASEQUERYSTATUS",
        18 => "TLS",
        _ => return None,
    })
}

/// `hardware_type` names (IANA ARP hardware types as the library spells them).
fn hw_type_name(t: u8) -> &'static str {
    match t {
        1 => "Ethernet",
        2 => "Experimental Ethernet",
        3 => "Amateur Radio AX.25",
        4 => "Proteon ProNET Token Ring",
        5 => "Chaos",
        6 => "IEEE 802",
        7 => "ARCNET",
        8 => "Hyperchannel",
        9 => "Lanstar",
        10 => "Autonet Short Address",
        11 => "LocalTalk",
        12 => "LocalNet",
        13 => "Ultra link",
        14 => "SMDS",
        15 => "Frame Relay",
        16 => "ATM",
        17 => "HDLC",
        18 => "Fibre Channel",
        19 => "ATM 2",
        20 => "Serial Line",
        21 => "ATM 3",
        22 => "MIL-STD-188-220",
        23 => "Metricom",
        24 => "IEEE 1394.1995",
        25 => "MAPOS",
        26 => "Twinaxial",
        27 => "EUI-64",
        28 => "HIPARP",
        29 => "IP and ARP over ISO 7816-3",
        30 => "ARPSec",
        31 => "IPsec tunnel",
        32 => "Infiniband",
        33 => "CAI, TIA-102 Project 125 Common Air Interface",
        34 => "Wiegand Interface",
        35 => "Pure IP",
        _ => "Invalid",
    }
}

/// Option names used in `parameter_request_list` (the library's `optionCodeToString`).
fn option_name(code: u8) -> Option<&'static str> {
    const NAMES: [&str; 83] = [
        "Pad",
        "Subnet Mask",
        "Time Offset",
        "Router",
        "Time Server",
        "Name Server",
        "Domain Name Server",
        "Log Server",
        "Quote Server",
        "LPR Server",
        "Impress Server",
        "Resource Location Server",
        "Host Name",
        "Boot File Size",
        "Merit Dump File",
        "Domain Name",
        "Swap Server",
        "Root Path",
        "Extensions Path",
        "IP Forwarding enable/disable",
        "Non-local Source Routing enable/disable",
        "Policy Filter",
        "Maximum Datagram Reassembly Size",
        "Default IP Time-to-live",
        "Path MTU Aging Timeout",
        "Path MTU Plateau Table",
        "Interface MTU",
        "All Subnets Are Local",
        "Broadcast Address",
        "Perform Mask Discovery",
        "Mask Supplier",
        "Perform Router Discovery",
        "Router Solicitation Address",
        "Static Routing Table",
        "Trailer Encapsulation",
        "ARP Cache Timeout",
        "Ethernet Encapsulation",
        "Default TCP TTL",
        "TCP Keepalive Interval",
        "TCP Keepalive Garbage",
        "Network Information Service Domain",
        "Network Information Servers",
        "NTP Servers",
        "Vendor Specific Information",
        "NetBIOS over TCP/IP Name Server",
        "NetBIOS over TCP/IP Datagram Distribution Server",
        "NetBIOS over TCP/IP Node Type",
        "NetBIOS over TCP/IP Scope",
        "X Window System Font Server",
        "X Window System Display Manager",
        "Requested IP Address",
        "IP Addresses Lease Time",
        "Option Overload",
        "DHCP Message Type",
        "Server Identifier",
        "Parameter Request List",
        "Message",
        "Maximum DHCP Message Size",
        "Renew Time Value",
        "Rebinding Time Value",
        "Class Identifier",
        "Client identifier",
        "NetWare/IP Domain Name",
        "NetWare/IP Information",
        "Network Information Service+ Domain",
        "Network Information Service+ Servers",
        "TFTP Server Name",
        "Bootfile Name",
        "Mobile IP Home Agent",
        "SMTP Server",
        "POP Server",
        "NNTP Server",
        "Default WWW Server",
        "Default Finger Server",
        "Default IRC Server",
        "StreetTalk Server",
        "StreetTalk Directory Assistance Server",
        "User Class Information",
        "SLP DIrectory Agent",
        "SLP Service Scope",
        "Rapid Commit",
        "FQDN",
        "Relay Agent Information",
    ];
    if let Some(n) = NAMES.get(usize::from(code)) {
        return Some(n);
    }
    Some(match code {
        83 => "Internet Storage Name Service",
        85 => "NDS Servers",
        86 => "NDS Tree Name",
        87 => "NDS Context",
        88 => "BCMCS Controller Domain Name List",
        89 => "BCMCS Controller IPv4 Address List",
        90 => "Authentication",
        91 => "Client Last Transaction Time",
        92 => "Associated IP",
        93 => "Client System Architecture Type",
        94 => "Client Network Interface Identifier",
        95 => "LDAP",
        97 => "Client Machine Identifier",
        98 => "OpenGroup's User Authentication",
        99 => "GEOCONF_CIVIC",
        100 => "IEEE 1003.1 TZ String",
        101 => "Reference to the TZ Database",
        108 => "Number of seconds that DHCPv4 should be disabled",
        109 => "DHCPv4 over DHCPv6 Softwire Source Address Option",
        112 => "NetInfo Parent Server Address",
        113 => "NetInfo Parent Server Tag",
        114 => "URL",
        116 => "Auto-Configure",
        117 => "Name Service Search",
        118 => "Subnet Selection",
        119 => "DNS Domain Search List",
        120 => "SIP Servers",
        121 => "Classless Static Route",
        122 => "CCC, CableLabs Client Configuration",
        123 => "GeoConf",
        124 => "Vendor-Identifying Vendor Class",
        125 => "Vendor-Identifying Vendor-Specific",
        128 => "TFTP Server IP Address",
        129 => "Call Server IP Address",
        130 => "Discrimination String",
        131 => "RemoteStatistics Server IP Address",
        132 => "802.1P VLAN ID",
        133 => "802.1Q L2 Priority",
        134 => "Diffserv Code Point",
        135 => "HTTP Proxy for phone-specific applications",
        136 => "PANA Authentication Agent",
        137 => "LoST Server",
        138 => "CAPWAP Access Controller Addresses",
        139 => "OPTION-IPv4_Address-MoS",
        140 => "OPTION-IPv4_FQDN-MoS",
        141 => "SIP UA Configuration Service Domains",
        142 => "OPTION-IPv4_Address-ANDSF",
        143 => "OPTION-IPv6_Address-ANDSF",
        144 => "Geospatial Location with Uncertainty",
        145 => "Forcerenew Nonce Capable",
        146 => "Information for selecting RDNSS",
        147 => "The name of the peer DOTS agent",
        148 => "IPv4 addresses of peer DOTS agent(s)",
        150 => "TFTP Server Address",
        151 => "Status Code",
        152 => "Base Time",
        153 => "Start Time of State",
        154 => "Query Start Time",
        155 => "Query End Time",
        156 => "DHCP Staet",
        157 => "Data Source",
        158 => "PCP server IP addresses",
        159 => "DHCPv4 Port Parameters",
        161 => "Manufacturer Usage Description URL",
        162 => "Encrypted DNS Server",
        175 => "Etherboot",
        176 => "IP Telephone",
        177 => "Etherboot / PacketCable and CableHome",
        208 => "PXELinux Magic String",
        209 => "PXELinux Config File",
        210 => "PXELinux Path Prefix",
        211 => "PXELinux Reboot Time",
        212 => "OPTION_6RD",
        213 => "OPTION_V4_ACCESS_DOMAIN",
        220 => "Subnet Allocation",
        221 => "Virtual Subnet Selection",
        255 => "End",
        _ => return None,
    })
}

/// Lowercase hex of `b`.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// A MAC-like address as `aa:bb:cc` (Go `net.HardwareAddr.String`).
pub fn mac_colon(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// The ECS form of a MAC address: uppercase, dash-separated.
pub fn mac_ecs(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        let _ = write!(s, "{x:02X}");
    }
    s
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ip_list(b: &[u8]) -> Option<Value> {
    parse::ips(b).map(|v| Value::from(v.iter().map(ToString::to_string).collect::<Vec<_>>()))
}

/// The `dhcpv4` object of a message.
pub fn dhcpv4_fields(m: &Message<'_>) -> Map<String, Value> {
    let mut d = Map::new();
    let op = match m.op {
        1 => "bootrequest".to_owned(),
        2 => "bootreply".to_owned(),
        n => format!("unknown ({n})"),
    };
    d.insert("op_code".into(), op.into());
    d.insert("hardware_type".into(), hw_type_name(m.htype).into());
    d.insert("hops".into(), m.hops.into());
    d.insert("transaction_id".into(), format!("0x{:08x}", m.xid).into());
    d.insert("seconds".into(), m.secs.into());
    let mut flags = if m.flags & 0x8000 != 0 {
        "broadcast".to_owned()
    } else {
        "unicast".to_owned()
    };
    if m.flags & 0x7fff != 0 {
        flags.push_str(" (reserved bits not zeroed)");
    }
    d.insert("flags".into(), flags.into());
    d.insert("client_mac".into(), mac_colon(m.hwaddr()).into());
    for (key, addr) in [
        ("client_ip", m.ciaddr),
        ("assigned_ip", m.yiaddr),
        ("server_ip", m.siaddr),
        ("relay_ip", m.giaddr),
    ] {
        if !addr.is_unspecified() {
            d.insert(key.into(), addr.to_string().into());
        }
    }
    if let Some(s) = m.server_name() {
        d.insert("server_name".into(), s.into_owned().into());
    }
    if let Some(s) = m.boot_file() {
        d.insert("boot_file_name".into(), s.into_owned().into());
    }
    let opts = options(m);
    if !opts.is_empty() {
        d.insert("option".into(), Value::Object(opts));
    }
    d
}

/// The `dhcpv4.option` object.
fn options(m: &Message<'_>) -> Map<String, Value> {
    let mut o = Map::new();
    if let Some(t) = m.get(53).and_then(|v| v.first().copied()) {
        let name = message_type_name(t)
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| format!("unknown ({t})"));
        o.insert("message_type".into(), name.into());
    }
    if let Some(list) = m.get(55) {
        let names: Vec<Value> = list
            .iter()
            .map(|&c| {
                option_name(c)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("unknown ({c})"))
                    .into()
            })
            .collect();
        o.insert("parameter_request_list".into(), names.into());
    }
    for (code, key) in [
        (50, "requested_ip_address"),
        (54, "server_identifier"),
        (28, "broadcast_address"),
    ] {
        if let Some(a) = m.get(code).and_then(|v| parse::one_ip(&v)) {
            o.insert(key.into(), a.to_string().into());
        }
    }
    if let Some(n) = m.get(57).and_then(|v| parse::u16_opt(&v)) {
        o.insert("max_dhcp_message_size".into(), n.into());
    }
    for (code, key) in [(60, "class_identifier"), (15, "domain_name")] {
        if let Some(v) = m.get(code).filter(|v| !v.is_empty()) {
            o.insert(key.into(), text(&v).into());
        }
    }
    if let Some(v) = m.get(6).and_then(|v| ip_list(&v)) {
        o.insert("dns_servers".into(), v);
    }
    if let Some(list) = m.get(124).and_then(|v| {
        parse::vivc(&v).map(|l| {
            l.iter()
                .map(|(id, data)| serde_json::json!({ "id": id, "data": hex(data) }))
                .collect::<Vec<_>>()
        })
    }) {
        o.insert("vendor_identifying_options".into(), list.into());
    }
    if let Some(a) = m.get(1).and_then(|v| parse::one_ip(&v)) {
        o.insert("subnet_mask".into(), a.to_string().into());
    }
    if let Some(n) = m.get(2).and_then(|v| parse::u32_opt(&v)) {
        o.insert(
            "utc_time_offset_sec".into(),
            i32::from_be_bytes(n.to_be_bytes()).into(),
        );
    }
    for (code, key) in [(3, "router"), (4, "time_servers"), (42, "ntp_servers")] {
        if let Some(v) = m.get(code).and_then(|v| ip_list(&v)) {
            o.insert(key.into(), v);
        }
    }
    if let Some(v) = m.get(12) {
        let s = text(&v);
        let s = s.trim_end_matches('\0');
        if !s.is_empty() {
            o.insert("hostname".into(), s.into());
        }
    }
    for (code, key) in [
        (51, "ip_address_lease_time_sec"),
        (58, "renewal_time_sec"),
        (59, "rebinding_time_sec"),
    ] {
        if let Some(n) = m
            .get(code)
            .and_then(|v| parse::u32_opt(&v))
            .filter(|&n| n != 0)
        {
            o.insert(key.into(), n.into());
        }
    }
    if let Some(v) = m.get(56).filter(|v| !v.is_empty()) {
        o.insert("message".into(), text(&v).into());
    }
    if let Some(v) = m.get(67) {
        let s = text(&v);
        let s = s.trim_end_matches('\0');
        if !s.is_empty() {
            o.insert("boot_file_name".into(), s.into());
        }
    }
    // Beyond Packetbeat: relay agent information (RFC 3046) and vendor-specific data.
    if let Some(v) = m.get(82) {
        let mut r = Map::new();
        for (code, data) in parse::sub_options(&v) {
            let key = match code {
                1 => "circuit_id".to_owned(),
                2 => "remote_id".to_owned(),
                5 => "link_selection".to_owned(),
                6 => "subscriber_id".to_owned(),
                11 => "server_identifier_override".to_owned(),
                n => format!("sub_option_{n}"),
            };
            let val = match code {
                5 | 11 => parse::one_ip(data).map_or_else(|| hex(data), |a| a.to_string()),
                _ => hex(data),
            };
            r.insert(key, val.into());
        }
        if !r.is_empty() {
            o.insert("relay_agent_info".into(), Value::Object(r));
        }
    }
    if let Some(v) = m.get(43).filter(|v| !v.is_empty()) {
        o.insert("vendor_specific_information".into(), hex(&v).into());
    }
    if let Some(v) = m.get(61).filter(|v| !v.is_empty()) {
        o.insert("client_identifier".into(), hex(&v).into());
    }
    o
}
