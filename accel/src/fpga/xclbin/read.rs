//! Bounds-checked little-endian reads and the fixed-layout sections.

use super::{Connection, Ip, MemBank, XclbinError};

/// Reads at offsets the caller has already checked against the length.
pub(super) struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b }
    }

    fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(s) = self.b.get(at..at + N) {
            out.copy_from_slice(s);
        }
        out
    }

    pub fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.array(at))
    }

    pub fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.array(at))
    }

    pub fn i32(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.array(at))
    }

    pub fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.array(at))
    }

    /// A NUL-terminated string in a fixed field of `len` bytes.
    pub fn cstr(&self, at: usize, len: usize, field: &str) -> Result<String, XclbinError> {
        let raw = self.b.get(at..at + len).unwrap_or_default();
        let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
        std::str::from_utf8(&raw[..end])
            .map(str::to_string)
            .map_err(|_| XclbinError::Text { field: field.into() })
    }
}

/// A section that is an `int32 m_count` then `m_count` records of `record` bytes from `first`.
fn records(
    s: &[u8],
    section: &'static str,
    first: usize,
    record: usize,
) -> Result<usize, XclbinError> {
    if s.len() < 4 {
        return Err(XclbinError::Count { section, field: "m_count", value: -1, size: s.len() });
    }
    let count = Reader::new(s).i32(0);
    let fits = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(record))
        .and_then(|n| n.checked_add(first))
        .is_some_and(|n| n <= s.len());
    if !fits {
        return Err(XclbinError::Count {
            section,
            field: "m_count",
            value: count.into(),
            size: s.len(),
        });
    }
    Ok(count as usize)
}

pub(super) fn mem_topology(s: &[u8]) -> Result<Vec<MemBank>, XclbinError> {
    let count = records(s, "MEM_TOPOLOGY", 8, 40)?;
    let r = Reader::new(s);
    (0..count)
        .map(|i| {
            let at = 8 + i * 40;
            Ok(MemBank {
                kind: s[at],
                used: s[at + 1] != 0,
                size_kb: r.u64(at + 8),
                base_address: r.u64(at + 16),
                tag: r.cstr(at + 24, 16, "MEM_TOPOLOGY m_tag")?,
            })
        })
        .collect()
}

pub(super) fn ip_layout(s: &[u8]) -> Result<Vec<Ip>, XclbinError> {
    let count = records(s, "IP_LAYOUT", 8, 80)?;
    let r = Reader::new(s);
    (0..count)
        .map(|i| {
            let at = 8 + i * 80;
            Ok(Ip {
                kind: r.u32(at),
                base_address: r.u64(at + 8),
                name: r.cstr(at + 16, 64, "IP_LAYOUT m_name")?,
            })
        })
        .collect()
}

pub(super) fn connectivity(
    s: &[u8],
    ips: usize,
    banks: usize,
) -> Result<Vec<Connection>, XclbinError> {
    let count = records(s, "CONNECTIVITY", 4, 12)?;
    let r = Reader::new(s);
    (0..count)
        .map(|i| {
            let at = 4 + i * 12;
            let (arg, ip, mem) = (r.i32(at), r.i32(at + 4), r.i32(at + 8));
            let check = |field, value: i32, len: usize| {
                usize::try_from(value).ok().filter(|&v| v < len).ok_or(XclbinError::Index {
                    section: "CONNECTIVITY",
                    index: i,
                    field,
                    value: value.into(),
                })
            };
            if arg < 0 {
                return Err(XclbinError::Index {
                    section: "CONNECTIVITY",
                    index: i,
                    field: "arg_index",
                    value: arg.into(),
                });
            }
            Ok(Connection {
                arg,
                ip: check("m_ip_layout_index", ip, ips)?,
                mem: check("mem_data_index", mem, banks)?,
            })
        })
        .collect()
}
