//! The xclbin (`axlf`) container, read in pure Rust before XRT ever sees a file.
//!
//! XRT checks only the magic before trusting every offset in a file, so a truncated or lying
//! xclbin makes it read out of bounds. Here every length, offset and count is checked against
//! the file first, and each error names the field. Layout: XRT's `xclbin.h` (`struct axlf`,
//! `axlf_header`, `axlf_section_header`, `ip_layout`, `mem_topology`, `connectivity`).

pub mod builder;
mod metadata;
mod read;

use read::Reader;

pub use metadata::KernelArg;

/// `axlf.m_magic`.
pub const MAGIC: &[u8; 8] = b"xclbin2\0";
/// Bytes before the first section header (`sizeof(struct axlf)` minus one section header).
pub const HEADER_LEN: usize = 456;
/// `sizeof(struct axlf_section_header)`.
pub const SECTION_HEADER_LEN: usize = 40;
/// XRT's own limit on sections (`XCLBIN_MAX_NUM_SECTION`).
pub const MAX_SECTIONS: u32 = 0x10000;

/// Section kinds (`enum axlf_section_kind`) the backend reads.
pub mod kind {
    /// XML describing the kernels, their arguments and compute units.
    pub const EMBEDDED_METADATA: u32 = 2;
    /// The memory banks (`struct mem_topology`).
    pub const MEM_TOPOLOGY: u32 = 6;
    /// Which bank each kernel argument of each compute unit uses (`struct connectivity`).
    pub const CONNECTIVITY: u32 = 7;
    /// The IP instances, compute units among them (`struct ip_layout`).
    pub const IP_LAYOUT: u32 = 8;
}

/// `IP_KERNEL` in `enum IP_TYPE`.
pub const IP_KERNEL: u32 = 1;

/// Why an xclbin was refused; every variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XclbinError {
    #[error("file is {0} bytes, shorter than the {HEADER_LEN}-byte axlf header")]
    /// The file's length in bytes, shorter than the axlf header.
    TooShort(usize),
    #[error("magic is {0:?}, expected \"xclbin2\" (not an xclbin)")]
    /// The first 8 bytes (lossily as text) are not `xclbin2\0`.
    Magic(String),
    #[error("header m_length {declared} does not match the file size {actual} (truncated or padded file)")]
    /// The header's `m_length` (`declared`) differs from the file's size in bytes (`actual`).
    Length {
        /// `m_header.m_length`.
        declared: u64,
        /// The file's size in bytes.
        actual: usize,
    },
    #[error("header m_numSections {0} is out of range (1 to {MAX_SECTIONS})")]
    /// `m_numSections` is 0 or above XRT's limit of [`MAX_SECTIONS`].
    SectionCount(u32),
    #[error("section headers ({count} x {SECTION_HEADER_LEN} bytes) run past the end of the file")]
    /// The table of `count` section headers does not fit in the file.
    SectionTable {
        /// `m_numSections`.
        count: u32,
    },
    #[error("section {index} ({name}): m_sectionOffset {offset} + m_sectionSize {size} runs past the end of the file ({len} bytes)")]
    /// Section `index` (`name`, its `m_sectionName`) spans bytes `offset..offset + size`,
    /// beyond the file's `len` bytes.
    SectionBounds {
        /// The section's index in the table.
        index: usize,
        /// Its `m_sectionName`.
        name: String,
        /// `m_sectionOffset`.
        offset: u64,
        /// `m_sectionSize`.
        size: u64,
        /// The file's size in bytes.
        len: usize,
    },
    #[error("missing {0} section")]
    /// A section the backend needs (named as in [`kind`]) is not in the file.
    Missing(&'static str),
    #[error("{section}: {field} {value} does not fit the section's {size} bytes")]
    /// A count field (`field` of `section`) declares more entries than the section's `size`
    /// bytes hold.
    Count {
        /// The section (`MEM_TOPOLOGY`, `IP_LAYOUT`, `CONNECTIVITY`).
        section: &'static str,
        /// The count field (`m_count`).
        field: &'static str,
        /// The count declared.
        value: i64,
        /// The section's size in bytes.
        size: usize,
    },
    #[error("{section}[{index}]: {field} {value} is out of range")]
    /// Entry `index` of `section` refers, through `field`, to an entry (`value`) that does not
    /// exist.
    Index {
        /// The section holding the entry.
        section: &'static str,
        /// The entry's index.
        index: usize,
        /// The field referring to another section (`m_ip_layout_index`, `mem_data_index`).
        field: &'static str,
        /// The index it holds.
        value: i64,
    },
    #[error("{field} is not valid UTF-8 text")]
    /// A name field (`m_tag`, `m_name`, ...) is not NUL-terminated UTF-8.
    Text {
        /// The field, with its section and entry.
        field: String,
    },
    #[error("EMBEDDED_METADATA: {0}")]
    /// EMBEDDED_METADATA is not the XML the kernels are read from; the reason.
    Metadata(String),
}

/// One memory bank (`mem_topology.m_mem_data[i]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemBank {
    /// `m_tag`: the bank's name, `bank0` or `DDR[0]` and the like.
    pub tag: String,
    /// `m_type`: XRT's `enum MEM_TYPE` (0 DDR3, 1 DDR4, 2 DRAM, 3 streaming, ...).
    pub kind: u8,
    /// `m_used`: whether any kernel argument is connected to the bank.
    pub used: bool,
    /// `m_size`: the bank's size in KiB.
    pub size_kb: u64,
    /// `m_base_address`: the bank's physical address on the card.
    pub base_address: u64,
}

/// One IP instance (`ip_layout.m_ip_data[i]`), e.g. `mlp_infer:mlp_infer_1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ip {
    /// `m_type`: XRT's `enum IP_TYPE` ([`IP_KERNEL`] for compute units).
    pub kind: u32,
    /// `m_name`: `kernel:instance`, e.g. `mlp_infer:mlp_infer_1`.
    pub name: String,
    /// `m_base_address`: the IP's control registers in the card's address space.
    pub base_address: u64,
}

/// One `connectivity.m_connection[i]`: kernel argument `arg` of IP `ip` uses bank `mem`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// `arg_index`: the kernel argument's index.
    pub arg: i32,
    /// `m_ip_layout_index`: index into [`Xclbin::ips`].
    pub ip: usize,
    /// `mem_data_index`: index into [`Xclbin::mem_banks`].
    pub mem: usize,
}

/// A kernel: its name, its compute units (IP names) and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    /// The kernel's name (EMBEDDED_METADATA `<kernel name=...>`).
    pub name: String,
    /// Its compute units: the names of its IP instances (`kernel:instance`).
    pub compute_units: Vec<String>,
    /// Its arguments, in index order.
    pub args: Vec<KernelArg>,
}

/// What edgeserve needs from an xclbin, every field checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xclbin {
    /// `m_versionMajor`, `m_versionMinor`, `m_versionPatch` of the tool that wrote the file.
    pub version: (u8, u8, u16),
    /// `m_platformVBNV`: the platform (shell) the image was built for.
    pub platform_vbnv: String,
    /// `m_header.uuid`: the image's UUID, which XRT checks when loading it.
    pub uuid: [u8; 16],
    /// `m_numSections`.
    pub section_count: u32,
    /// MEM_TOPOLOGY's banks, in index order.
    pub mem_banks: Vec<MemBank>,
    /// IP_LAYOUT's IP instances, in index order.
    pub ips: Vec<Ip>,
    /// CONNECTIVITY's argument-to-bank connections.
    pub connectivity: Vec<Connection>,
    /// EMBEDDED_METADATA's kernels.
    pub kernels: Vec<Kernel>,
}

impl Xclbin {
    /// Parses and checks a whole xclbin file.
    pub fn parse(bytes: &[u8]) -> Result<Xclbin, XclbinError> {
        if bytes.len() < HEADER_LEN {
            return Err(XclbinError::TooShort(bytes.len()));
        }
        let r = Reader::new(bytes);
        if &bytes[..8] != MAGIC {
            return Err(XclbinError::Magic(String::from_utf8_lossy(&bytes[..8]).into()));
        }
        let declared = r.u64(304);
        if declared != bytes.len() as u64 {
            return Err(XclbinError::Length { declared, actual: bytes.len() });
        }
        let version = (bytes[330], bytes[331], r.u16(328));
        let platform_vbnv = r.cstr(352, 64, "header m_platformVBNV")?;
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&bytes[416..432]);
        let section_count = r.u32(448);
        if section_count == 0 || section_count > MAX_SECTIONS {
            return Err(XclbinError::SectionCount(section_count));
        }
        let table_end = HEADER_LEN as u64 + u64::from(section_count) * SECTION_HEADER_LEN as u64;
        if table_end > bytes.len() as u64 {
            return Err(XclbinError::SectionTable { count: section_count });
        }
        let mut sections: Vec<(u32, &[u8])> = Vec::new();
        for index in 0..section_count as usize {
            let at = HEADER_LEN + index * SECTION_HEADER_LEN;
            let kind = r.u32(at);
            let name = r.cstr(at + 4, 16, "section m_sectionName")?;
            let (offset, size) = (r.u64(at + 24), r.u64(at + 32));
            let end = offset.checked_add(size).filter(|&e| e <= bytes.len() as u64);
            let Some(end) = end else {
                return Err(XclbinError::SectionBounds {
                    index,
                    name,
                    offset,
                    size,
                    len: bytes.len(),
                });
            };
            sections.push((kind, &bytes[offset as usize..end as usize]));
        }
        let section = |k: u32, name: &'static str| {
            sections
                .iter()
                .find(|(kind, _)| *kind == k)
                .map(|(_, s)| *s)
                .ok_or(XclbinError::Missing(name))
        };
        let mem_banks = read::mem_topology(section(kind::MEM_TOPOLOGY, "MEM_TOPOLOGY")?)?;
        let ips = read::ip_layout(section(kind::IP_LAYOUT, "IP_LAYOUT")?)?;
        let connectivity = read::connectivity(
            section(kind::CONNECTIVITY, "CONNECTIVITY")?,
            ips.len(),
            mem_banks.len(),
        )?;
        let xml = section(kind::EMBEDDED_METADATA, "EMBEDDED_METADATA")?;
        let args = metadata::kernel_args(xml)?;
        let mut kernels: Vec<Kernel> = Vec::new();
        for ip in ips.iter().filter(|ip| ip.kind == IP_KERNEL) {
            let kernel = ip.name.split(':').next().unwrap_or_default().to_string();
            match kernels.iter_mut().find(|k| k.name == kernel) {
                Some(k) => k.compute_units.push(ip.name.clone()),
                None => kernels.push(Kernel {
                    args: args.get(&kernel).cloned().unwrap_or_default(),
                    name: kernel,
                    compute_units: vec![ip.name.clone()],
                }),
            }
        }
        Ok(Xclbin {
            version,
            platform_vbnv,
            uuid,
            section_count,
            mem_banks,
            ips,
            connectivity,
            kernels,
        })
    }

    /// The kernel called `name`.
    pub fn kernel(&self, name: &str) -> Option<&Kernel> {
        self.kernels.iter().find(|k| k.name == name)
    }

    /// The UUID as XRT prints it (`8-4-4-4-12` hex).
    pub fn uuid_string(&self) -> String {
        uuid_string(&self.uuid)
    }

    /// Tags of the banks in use.
    pub fn used_banks(&self) -> Vec<String> {
        self.mem_banks.iter().filter(|b| b.used).map(|b| b.tag.clone()).collect()
    }
}

/// `8-4-4-4-12` lowercase hex.
pub fn uuid_string(u: &[u8; 16]) -> String {
    let hex: Vec<String> = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        hex[..4].concat(),
        hex[4..6].concat(),
        hex[6..8].concat(),
        hex[8..10].concat(),
        hex[10..].concat()
    )
}

/// Entry point of the `xclbin` fuzz target: parsing never panics, whatever the bytes.
pub fn fuzz_parse(bytes: &[u8]) {
    let _ = Xclbin::parse(bytes);
}
