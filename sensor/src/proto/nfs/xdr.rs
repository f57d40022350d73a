//! A borrowing XDR reader (RFC 4506): big-endian 32-bit units, opaque data padded to 4 bytes.

/// Reader over XDR data; every read returns `None` when the data is too short.
#[derive(Clone, Copy, Debug)]
pub struct Xdr<'a> {
    b: &'a [u8],
}

impl<'a> Xdr<'a> {
    /// Read `b` from its start.
    pub fn new(b: &'a [u8]) -> Self {
        Xdr { b }
    }

    /// Bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.b
    }

    /// `n` raw bytes.
    pub fn fixed(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.b.split_at_checked(n)?;
        self.b = tail;
        Some(head)
    }

    /// An unsigned 32-bit integer.
    pub fn u32(&mut self) -> Option<u32> {
        match self.fixed(4)? {
            &[a, b, c, d] => Some(u32::from_be_bytes([a, b, c, d])),
            _ => None,
        }
    }

    /// An unsigned 64-bit integer.
    pub fn u64(&mut self) -> Option<u64> {
        let hi = self.u32()?;
        let lo = self.u32()?;
        Some((u64::from(hi) << 32) | u64::from(lo))
    }

    /// Fixed-length opaque data of `n` bytes plus padding.
    pub fn opaque_fixed(&mut self, n: usize) -> Option<&'a [u8]> {
        let data = self.fixed(n)?;
        self.fixed(pad(n))?;
        Some(data)
    }

    /// Variable-length opaque data (or string).
    pub fn opaque(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.opaque_fixed(n)
    }

    /// An array of 32-bit integers, skipped; returns its length.
    pub fn skip_u32_array(&mut self) -> Option<usize> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.fixed(n.checked_mul(4)?)?;
        Some(n)
    }

    /// An array of 32-bit integers, at most `cap` kept.
    pub fn u32_array(&mut self, cap: usize) -> Option<Vec<u32>> {
        let n = usize::try_from(self.u32()?).ok()?;
        let mut out = Vec::with_capacity(n.min(cap));
        for i in 0..n {
            let v = self.u32()?;
            if i < cap {
                out.push(v);
            }
        }
        Some(out)
    }
}

/// Padding after `n` bytes of opaque data.
fn pad(n: usize) -> usize {
    (4 - n % 4) % 4
}
