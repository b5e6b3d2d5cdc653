//! Writes xclbin files in XRT's `axlf` layout: the test suite's (and the hardware test's
//! dry run's) source of xclbins, since Debian's `xclbinutil` writes nothing. Only the sections
//! edgeserve and XRT's host side read are made: EMBEDDED_METADATA, MEM_TOPOLOGY, IP_LAYOUT and
//! CONNECTIVITY (no bitstream: the no-op shim needs none; a card does).

use super::{kind, HEADER_LEN, IP_KERNEL, MAGIC, SECTION_HEADER_LEN};

/// One kernel argument to write.
#[derive(Debug, Clone)]
pub struct ArgSpec {
    /// The argument's name in the kernel's EMBEDDED_METADATA.
    pub name: String,
    /// A global-memory buffer (`addressQualifier` 1) in bank `bank`, else a 32-bit scalar.
    pub buffer: Option<usize>,
}

impl ArgSpec {
    /// A `float*` argument in memory bank `bank`.
    pub fn buffer(name: &str, bank: usize) -> ArgSpec {
        ArgSpec { name: name.into(), buffer: Some(bank) }
    }

    /// An `unsigned int` scalar argument.
    pub fn scalar(name: &str) -> ArgSpec {
        ArgSpec { name: name.into(), buffer: None }
    }
}

/// An xclbin under construction.
#[derive(Debug, Clone)]
pub struct XclbinBuilder {
    /// Platform name (`m_platformVBNV`), e.g. `xilinx_u250_gen3x16_xdma_4_1_202210_1`.
    pub vbnv: String,
    /// The xclbin's UUID (`m_header.uuid`), which XRT matches against the loaded device image.
    pub uuid: [u8; 16],
    /// Memory bank tags (MEM_TOPOLOGY `m_tag`, e.g. `bank0`), in index order; all marked used.
    pub banks: Vec<String>,
    /// (kernel name, compute units, arguments in index order).
    pub kernels: Vec<(String, u32, Vec<ArgSpec>)>,
    /// Section kinds to leave out (to make broken files).
    pub omit: Vec<u32>,
}

impl XclbinBuilder {
    /// An xclbin for platform `vbnv` with one DDR bank, `bank0`.
    pub fn new(vbnv: &str) -> XclbinBuilder {
        XclbinBuilder {
            vbnv: vbnv.into(),
            uuid: *b"edgeserve-xclbin",
            banks: vec!["bank0".into()],
            kernels: Vec::new(),
            omit: Vec::new(),
        }
    }

    /// Adds a kernel with `cus` compute units.
    pub fn kernel(mut self, name: &str, cus: u32, args: Vec<ArgSpec>) -> XclbinBuilder {
        self.kernels.push((name.into(), cus, args));
        self
    }

    /// The typical FPGA model kernel: `x` in, `y` out (bank 0), batch size scalar.
    pub fn model_kernel(self, name: &str) -> XclbinBuilder {
        let args = vec![ArgSpec::buffer("x", 0), ArgSpec::buffer("y", 0), ArgSpec::scalar("n")];
        self.kernel(name, 1, args)
    }

    fn metadata(&self) -> Vec<u8> {
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<project name=\"edgeserve\">\n",
        );
        xml += &format!(
            "  <platform vendor=\"xilinx\" boardid=\"edgeserve\" name=\"{}\" featureRomTime=\"0\">\n",
            self.vbnv
        );
        xml += "    <version major=\"2\" minor=\"1\"/>\n";
        xml += "    <device name=\"fpga0\" fpgaDevice=\"virtexuplus\" addrWidth=\"0\">\n";
        xml += "      <core name=\"OCL_REGION_0\" target=\"hw\" type=\"clc_region\" clockFreq=\"0MHz\" numComputeUnits=\"1\">\n";
        let mut base = 0x0180_0000u64;
        for (name, cus, args) in &self.kernels {
            xml += &format!(
                "        <kernel name=\"{name}\" language=\"c\" vlnv=\"xilinx.com:hls:{name}:1.0\" \
                 preferredWorkGroupSizeMultiple=\"0\" workGroupSize=\"1\" interrupt=\"true\" \
                 hwControlProtocol=\"ap_ctrl_hs\">\n"
            );
            xml += "          <port name=\"M_AXI_GMEM\" mode=\"master\" range=\"0xFFFFFFFF\" dataWidth=\"32\" portType=\"addressable\" base=\"0x0\"/>\n";
            xml += "          <port name=\"S_AXI_CONTROL\" mode=\"slave\" range=\"0x1000\" dataWidth=\"32\" portType=\"addressable\" base=\"0x0\"/>\n";
            let mut offset = 0x10u32;
            for (id, a) in args.iter().enumerate() {
                let (q, port, size, ty) = match a.buffer {
                    Some(_) => (1, "M_AXI_GMEM", 8, "float*"),
                    None => (0, "S_AXI_CONTROL", 4, "unsigned int"),
                };
                xml += &format!(
                    "          <arg name=\"{}\" addressQualifier=\"{q}\" id=\"{id}\" port=\"{port}\" \
                     size=\"0x{size:x}\" offset=\"0x{offset:x}\" hostOffset=\"0x0\" \
                     hostSize=\"0x{size:x}\" type=\"{ty}\"/>\n",
                    a.name
                );
                offset += if size == 8 { 0xc } else { 0x8 };
            }
            for cu in 1..=*cus {
                xml += &format!(
                    "          <instance name=\"{name}_{cu}\">\n            <addrRemap base=\"0x{base:x}\" port=\"S_AXI_CONTROL\"/>\n          </instance>\n"
                );
                base += 0x10000;
            }
            xml += "        </kernel>\n";
        }
        xml += "      </core>\n    </device>\n  </platform>\n</project>\n";
        xml.into_bytes()
    }

    fn mem_topology(&self) -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(&(self.banks.len() as i32).to_le_bytes());
        s.extend_from_slice(&[0; 4]);
        for (i, tag) in self.banks.iter().enumerate() {
            s.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]); // MEM_DDR4, used
            s.extend_from_slice(&(1u64 << 20).to_le_bytes()); // 1 GiB, in KiB
            s.extend_from_slice(&((i as u64) << 32).to_le_bytes());
            s.extend_from_slice(&fixed::<16>(tag));
        }
        s
    }

    fn ips(&self) -> Vec<(String, u64)> {
        let mut base = 0x0180_0000u64;
        let mut out = Vec::new();
        for (name, cus, _) in &self.kernels {
            for cu in 1..=*cus {
                out.push((format!("{name}:{name}_{cu}"), base));
                base += 0x10000;
            }
        }
        out
    }

    fn ip_layout(&self) -> Vec<u8> {
        let ips = self.ips();
        let mut s = Vec::new();
        s.extend_from_slice(&(ips.len() as i32).to_le_bytes());
        s.extend_from_slice(&[0; 4]);
        for (name, base) in ips {
            s.extend_from_slice(&IP_KERNEL.to_le_bytes());
            s.extend_from_slice(&0x0000_0101u32.to_le_bytes()); // interrupt, ap_ctrl_hs
            s.extend_from_slice(&base.to_le_bytes());
            s.extend_from_slice(&fixed::<64>(&name));
        }
        s
    }

    fn connectivity(&self) -> Vec<u8> {
        let mut conns = Vec::new();
        let mut ip = 0i32;
        for (_, cus, args) in &self.kernels {
            for _ in 0..*cus {
                for (i, a) in args.iter().enumerate() {
                    if let Some(bank) = a.buffer {
                        conns.push((i as i32, ip, bank as i32));
                    }
                }
                ip += 1;
            }
        }
        let mut s = Vec::new();
        s.extend_from_slice(&(conns.len() as i32).to_le_bytes());
        for (arg, ip, mem) in conns {
            for v in [arg, ip, mem] {
                s.extend_from_slice(&v.to_le_bytes());
            }
        }
        s
    }

    /// The file's bytes.
    pub fn build(&self) -> Vec<u8> {
        let sections: Vec<(u32, &str, Vec<u8>)> = [
            (kind::EMBEDDED_METADATA, "metadata", self.metadata()),
            (kind::MEM_TOPOLOGY, "mem_topology", self.mem_topology()),
            (kind::IP_LAYOUT, "ip_layout", self.ip_layout()),
            (kind::CONNECTIVITY, "connectivity", self.connectivity()),
        ]
        .into_iter()
        .filter(|(k, _, _)| !self.omit.contains(k))
        .collect();
        let table = HEADER_LEN + sections.len().max(1) * SECTION_HEADER_LEN;
        let mut offsets = Vec::new();
        let mut at = table.next_multiple_of(8);
        for (_, _, data) in &sections {
            offsets.push(at);
            at = (at + data.len()).next_multiple_of(8);
        }
        let total = at;
        let mut f = vec![0u8; total];
        f[..8].copy_from_slice(MAGIC);
        f[8..12].copy_from_slice(&(-1i32).to_le_bytes());
        f[12..40].fill(0xff);
        f[304..312].copy_from_slice(&(total as u64).to_le_bytes());
        f[328..330].copy_from_slice(&0u16.to_le_bytes());
        f[330] = 2;
        f[331] = 1;
        f[352..416].copy_from_slice(&fixed::<64>(&self.vbnv));
        f[416..432].copy_from_slice(&self.uuid);
        f[448..452].copy_from_slice(&(sections.len() as u32).to_le_bytes());
        for (i, ((k, name, data), off)) in sections.iter().zip(&offsets).enumerate() {
            let h = HEADER_LEN + i * SECTION_HEADER_LEN;
            f[h..h + 4].copy_from_slice(&k.to_le_bytes());
            f[h + 4..h + 20].copy_from_slice(&fixed::<16>(name));
            f[h + 24..h + 32].copy_from_slice(&(*off as u64).to_le_bytes());
            f[h + 32..h + 40].copy_from_slice(&(data.len() as u64).to_le_bytes());
            f[*off..off + data.len()].copy_from_slice(data);
        }
        f
    }
}

/// `s` in a NUL-padded field of `N` bytes (truncated to leave the NUL).
fn fixed<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let b = s.as_bytes();
    let n = b.len().min(N - 1);
    out[..n].copy_from_slice(&b[..n]);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{Xclbin, XclbinError};
    use super::*;

    fn valid() -> Vec<u8> {
        XclbinBuilder::new("xilinx_u250_gen3x16_xdma_4_1_202210_1")
            .model_kernel("mlp_infer")
            .build()
    }

    #[test]
    fn a_built_file_parses_back() {
        let x = Xclbin::parse(&valid()).unwrap();
        assert_eq!(x.platform_vbnv, "xilinx_u250_gen3x16_xdma_4_1_202210_1");
        assert_eq!(x.uuid, *b"edgeserve-xclbin");
        assert_eq!(x.version, (2, 1, 0));
        assert_eq!(x.used_banks(), vec!["bank0"]);
        let k = x.kernel("mlp_infer").unwrap();
        assert_eq!(k.compute_units, vec!["mlp_infer:mlp_infer_1"]);
        let args: Vec<_> = k.args.iter().map(|a| (a.index, a.name.as_str(), a.global)).collect();
        assert_eq!(args, vec![(0, "x", true), (1, "y", true), (2, "n", false)]);
        assert_eq!(x.connectivity.len(), 2);
    }

    #[test]
    fn wrong_magic_is_named() {
        let mut f = valid();
        f[..8].copy_from_slice(b"xclbin0\0");
        assert!(matches!(Xclbin::parse(&f), Err(XclbinError::Magic(_))));
    }

    #[test]
    fn truncation_is_caught_by_the_length() {
        let f = valid();
        let err = Xclbin::parse(&f[..f.len() - 9]).unwrap_err();
        assert!(matches!(err, XclbinError::Length { .. }), "{err}");
        assert!(matches!(Xclbin::parse(&f[..100]), Err(XclbinError::TooShort(100))));
    }

    #[test]
    fn a_section_pointing_past_the_end_is_caught_even_with_a_lying_length() {
        let mut f = valid();
        let h = HEADER_LEN + SECTION_HEADER_LEN; // second section's header
        f[h + 24..h + 32].copy_from_slice(&(u64::MAX - 4).to_le_bytes());
        let err = Xclbin::parse(&f).unwrap_err();
        assert!(matches!(err, XclbinError::SectionBounds { index: 1, .. }), "{err}");
        assert!(err.to_string().contains("mem_topology"), "{err}");
    }

    #[test]
    fn a_lying_count_is_caught() {
        let mut b = XclbinBuilder::new("p").model_kernel("k");
        b.omit.clear();
        let mut f = b.build();
        let x = Xclbin::parse(&f).unwrap();
        assert_eq!(x.ips.len(), 1);
        // IP_LAYOUT is the third section: set its m_count to a huge value.
        let h = HEADER_LEN + 2 * SECTION_HEADER_LEN;
        let off = u64::from_le_bytes(f[h + 24..h + 32].try_into().unwrap()) as usize;
        f[off..off + 4].copy_from_slice(&i32::MAX.to_le_bytes());
        let err = Xclbin::parse(&f).unwrap_err().to_string();
        assert!(err.contains("IP_LAYOUT: m_count 2147483647"), "{err}");
    }

    #[test]
    fn missing_sections_are_named() {
        let mut b = XclbinBuilder::new("p").model_kernel("k");
        b.omit.push(kind::IP_LAYOUT);
        assert_eq!(Xclbin::parse(&b.build()), Err(XclbinError::Missing("IP_LAYOUT")));
    }

    #[test]
    fn every_prefix_and_every_flipped_byte_is_refused_or_parsed_without_panic() {
        let f = valid();
        for n in 0..f.len() {
            let _ = Xclbin::parse(&f[..n]);
        }
        for i in 0..f.len() {
            let mut g = f.clone();
            g[i] ^= 0xa5;
            let _ = Xclbin::parse(&g);
        }
    }
}
