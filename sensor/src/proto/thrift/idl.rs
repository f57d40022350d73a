//! A subset of the Thrift IDL, enough for `idl_files`: the services, their functions and the
//! ids and names of each function's parameters and declared exceptions. Everything else
//! (structs, enums, typedefs, constants, namespaces, includes, annotations) is skipped.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

/// Largest IDL file read: real IDLs are a few hundred KiB at most.
const MAX_IDL_BYTES: u64 = 16 * 1024 * 1024;

/// One function of a service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Function {
    /// Service name.
    pub service: String,
    /// Parameter names by field id.
    pub params: HashMap<i16, String>,
    /// Declared exception names by field id.
    pub exceptions: HashMap<i16, String>,
}

/// Functions of every service of the IDL files, by name (first definition wins, as
/// Packetbeat's lookup).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Idl {
    /// Functions by name.
    pub functions: HashMap<String, Function>,
}

/// The `idl_files` option: the paths and what they define (read when the config is loaded).
#[derive(Clone, Debug, Default)]
pub struct IdlFiles {
    /// Paths as configured.
    pub paths: Vec<String>,
    /// Parsed contents.
    pub idl: Arc<Idl>,
}

impl<'de> Deserialize<'de> for IdlFiles {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let paths = Vec::<String>::deserialize(d)?;
        let mut idl = Idl::default();
        for p in &paths {
            let meta = std::fs::metadata(p)
                .map_err(|e| serde::de::Error::custom(format!("idl_files: {p}: {e}")))?;
            if meta.len() > MAX_IDL_BYTES {
                return Err(serde::de::Error::custom(format!(
                    "idl_files: {p}: too large"
                )));
            }
            let text = std::fs::read_to_string(p)
                .map_err(|e| serde::de::Error::custom(format!("idl_files: {p}: {e}")))?;
            idl.add(&text);
        }
        Ok(IdlFiles {
            paths,
            idl: Arc::new(idl),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok<'a> {
    Word(&'a str),
    Int(i64),
    Punct(char),
    Str,
}

fn tokens(s: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => i = skip_line(b, i),
            b'/' if b.get(i + 1) == Some(&b'/') => i = skip_line(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = s
                    .get(i + 2..)
                    .and_then(|r| r.find("*/"))
                    .map_or(b.len(), |p| i + 2 + p + 2);
            }
            b'"' | b'\'' => {
                let end = b
                    .get(i + 1..)
                    .and_then(|r| r.iter().position(|&x| x == c))
                    .map_or(b.len(), |p| i + 1 + p + 1);
                out.push(Tok::Str);
                i = end;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'+' => {
                let start = i;
                while b.get(i).is_some_and(|x| {
                    x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-' | b'+')
                }) {
                    i += 1;
                }
                let w = s.get(start..i).unwrap_or_default();
                match w.parse::<i64>() {
                    Ok(n) => out.push(Tok::Int(n)),
                    Err(_) => out.push(Tok::Word(w)),
                }
            }
            _ => {
                out.push(Tok::Punct(char::from(c)));
                i += 1;
            }
        }
    }
    out
}

fn skip_line(b: &[u8], i: usize) -> usize {
    b.get(i..)
        .and_then(|r| r.iter().position(|&x| x == b'\n'))
        .map_or(b.len(), |p| i + p + 1)
}

struct P<'a> {
    t: Vec<Tok<'a>>,
    i: usize,
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<&Tok<'a>> {
        self.t.get(self.i)
    }
    fn next(&mut self) -> Option<Tok<'a>> {
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        t
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// Skip a balanced group starting at the current opening token.
    fn skip_group(&mut self) {
        let mut depth = 0i32;
        while let Some(t) = self.next() {
            match t {
                Tok::Punct('(' | '{' | '[' | '<') => depth += 1,
                Tok::Punct(')' | '}' | ']' | '>') => depth -= 1,
                _ => {}
            }
            if depth <= 0 {
                return;
            }
        }
    }
    /// A type: `name`, `name<...>`, optionally followed by annotations `( ... )`.
    fn ty(&mut self) -> Option<()> {
        match self.next()? {
            Tok::Word(_) => {}
            _ => return None,
        }
        if self.peek() == Some(&Tok::Punct('<')) {
            self.skip_group();
        }
        if self.peek() == Some(&Tok::Punct('(')) {
            self.skip_group();
        }
        Some(())
    }
    /// A field list after `(`, through `)`: id → name.
    fn fields(&mut self) -> Option<HashMap<i16, String>> {
        let mut out = HashMap::new();
        let mut auto = 0i16;
        loop {
            if self.eat(')') {
                return Some(out);
            }
            let id = if let Some(Tok::Int(n)) = self.peek() {
                let n = i16::try_from(*n).ok()?;
                self.i += 1;
                if !self.eat(':') {
                    return None;
                }
                n
            } else {
                auto -= 1;
                auto
            };
            if let Some(Tok::Word("required" | "optional")) = self.peek() {
                self.i += 1;
            }
            self.ty()?;
            let Tok::Word(name) = self.next()? else {
                return None;
            };
            out.insert(id, name.to_owned());
            if self.eat('=') {
                // Default value: a literal, possibly a list or map.
                match self.peek() {
                    Some(Tok::Punct('[' | '{')) => self.skip_group(),
                    _ => {
                        self.next();
                    }
                }
            }
            if self.peek() == Some(&Tok::Punct('(')) {
                self.skip_group();
            }
            let _ = self.eat(',') || self.eat(';');
        }
    }
    /// A service body after `{`, through `}`.
    fn service(&mut self, service: &str, idl: &mut Idl) -> Option<()> {
        loop {
            if self.eat('}') {
                return Some(());
            }
            if let Some(Tok::Word("oneway")) = self.peek() {
                self.i += 1;
            }
            self.ty()?;
            let Tok::Word(name) = self.next()? else {
                return None;
            };
            if !self.eat('(') {
                return None;
            }
            let params = self.fields()?;
            let mut exceptions = HashMap::new();
            if let Some(Tok::Word("throws")) = self.peek() {
                self.i += 1;
                if !self.eat('(') {
                    return None;
                }
                exceptions = self.fields()?;
            }
            if self.peek() == Some(&Tok::Punct('(')) {
                self.skip_group();
            }
            let _ = self.eat(',') || self.eat(';');
            idl.functions.entry(name.to_owned()).or_insert(Function {
                service: service.to_owned(),
                params,
                exceptions,
            });
        }
    }
}

impl Idl {
    /// Add the services of one IDL text (unparsable services are skipped from the error on).
    pub fn add(&mut self, text: &str) {
        let mut p = P {
            t: tokens(text),
            i: 0,
        };
        let mut depth = 0i32;
        while let Some(t) = p.next() {
            match t {
                Tok::Punct('{' | '(' | '[') => depth += 1,
                Tok::Punct('}' | ')' | ']') => depth -= 1,
                Tok::Word("service") if depth == 0 => {
                    let Some(Tok::Word(name)) = p.next() else {
                        continue;
                    };
                    if let Some(Tok::Word("extends")) = p.peek() {
                        p.i += 2;
                    }
                    if !p.eat('{') {
                        continue;
                    }
                    if p.service(name, self).is_none() {
                        // Skip to the end of this service block.
                        let mut d = 1i32;
                        while d > 0 {
                            match p.next() {
                                Some(Tok::Punct('{')) => d += 1,
                                Some(Tok::Punct('}')) => d -= 1,
                                None => break,
                                _ => {}
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The function called `name`.
    pub fn find(&self, name: &str) -> Option<&Function> {
        self.functions.get(name)
    }
}
