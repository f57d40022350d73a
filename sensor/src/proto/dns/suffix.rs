//! A small built-in public-suffix heuristic for `dns.question.{registered_domain,
//! top_level_domain, subdomain, etld_plus_one}`.
//!
//! Packetbeat embeds the full Public Suffix List; this sensor carries only the common
//! multi-label ICANN suffixes below and otherwise treats the last label as the public suffix
//! (the PSL's default `*` rule). Names under suffixes missing here (e.g. `pvt.k12.ma.us`,
//! private-section entries such as `github.io`) therefore get a shorter registered domain than
//! Packetbeat would report.

/// Multi-label public suffixes known to the heuristic (lowercase).
const MULTI_LABEL_SUFFIXES: &[&str] = &[
    "in-addr.arpa",
    "ip6.arpa",
    "co.uk",
    "org.uk",
    "me.uk",
    "ltd.uk",
    "plc.uk",
    "net.uk",
    "ac.uk",
    "gov.uk",
    "nhs.uk",
    "police.uk",
    "sch.uk",
    "com.au",
    "net.au",
    "org.au",
    "edu.au",
    "gov.au",
    "asn.au",
    "id.au",
    "co.nz",
    "net.nz",
    "org.nz",
    "govt.nz",
    "ac.nz",
    "co.jp",
    "ne.jp",
    "or.jp",
    "ac.jp",
    "go.jp",
    "ad.jp",
    "ed.jp",
    "gr.jp",
    "lg.jp",
    "com.br",
    "net.br",
    "org.br",
    "gov.br",
    "edu.br",
    "com.cn",
    "net.cn",
    "org.cn",
    "gov.cn",
    "edu.cn",
    "ac.cn",
    "co.in",
    "net.in",
    "org.in",
    "gov.in",
    "ac.in",
    "firm.in",
    "gen.in",
    "ind.in",
    "co.za",
    "org.za",
    "gov.za",
    "ac.za",
    "net.za",
    "com.mx",
    "org.mx",
    "gob.mx",
    "edu.mx",
    "net.mx",
    "com.ar",
    "gob.ar",
    "org.ar",
    "com.tr",
    "org.tr",
    "gov.tr",
    "edu.tr",
    "net.tr",
    "com.tw",
    "org.tw",
    "gov.tw",
    "edu.tw",
    "co.kr",
    "or.kr",
    "go.kr",
    "ac.kr",
    "ne.kr",
    "com.sg",
    "edu.sg",
    "gov.sg",
    "com.hk",
    "org.hk",
    "gov.hk",
    "co.il",
    "org.il",
    "ac.il",
    "gov.il",
    "com.ua",
    "co.id",
    "or.id",
    "go.id",
    "ac.id",
    "com.my",
    "gov.my",
    "com.ph",
    "com.vn",
    "com.pk",
    "com.eg",
    "com.sa",
    "co.th",
    "in.th",
    "ac.th",
    "go.th",
    "com.co",
    "com.pe",
    "com.ve",
    "com.ng",
    "co.ke",
    "com.pl",
    "com.ru",
    "com.es",
    "com.pt",
    "co.at",
    "or.at",
    "gv.at",
    "com.gr",
    "com.cy",
];

/// The registered-domain split of a question name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainParts<'a> {
    /// Public suffix + one label (`example.co.uk`).
    pub registered_domain: &'a str,
    /// The public suffix (`co.uk`).
    pub top_level_domain: &'a str,
    /// What is left of the registered domain (`www`), if anything.
    pub subdomain: Option<&'a str>,
}

/// Split `name` (presentation form, no trailing dot). `None` for single-label names, the root
/// and names that are themselves a public suffix (Packetbeat publishes no fields then).
pub fn split(name: &str) -> Option<DomainParts<'_>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.contains("..") || name.contains('\\') {
        return None;
    }
    if MULTI_LABEL_SUFFIXES
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name))
    {
        return None;
    }
    let lower_ends_with = |suffix: &str| -> bool {
        name.len() > suffix.len()
            && name
                .get(name.len() - suffix.len()..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
            && name.as_bytes().get(name.len() - suffix.len() - 1) == Some(&b'.')
    };
    let suffix_len = MULTI_LABEL_SUFFIXES
        .iter()
        .filter(|s| lower_ends_with(s))
        .map(|s| s.len())
        .max()
        .or_else(|| name.rfind('.').map(|dot| name.len() - dot - 1))?;
    let head_len = name.len().checked_sub(suffix_len + 1)?;
    let (head, _) = name.split_at_checked(head_len)?;
    let tld = name.get(head_len + 1..)?;
    let (sub, reg_start) = match head.rfind('.') {
        Some(dot) => (head.get(..dot), dot + 1),
        None => (None, 0),
    };
    let registered = name.get(reg_start..)?;
    if registered.is_empty() || registered.starts_with('.') {
        return None;
    }
    Some(DomainParts {
        registered_domain: registered,
        top_level_domain: tld,
        subdomain: sub.filter(|s| !s.is_empty()),
    })
}
