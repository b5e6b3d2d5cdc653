//! The tightest decoding path: a seed body that is exactly `{"data": <nested array of numbers>}`
//! (any JSON whitespace between tokens) scanned byte by byte into a flat buffer, each number
//! checked against the JSON number grammar (RFC 8259 §6) and converted correctly rounded (exactly
//! when it has few digits, else by the standard library's parser). Anything else (another member, an escape in the key, an empty or
//! ragged array, a number beyond the range) returns `None` and the caller takes the slower
//! paths, which decide and word every error.

/// A rectangular array of numbers read in row-major order: its dims and its elements.
pub struct Scanned<T> {
    /// Size of each nesting level, outermost first.
    pub shape: Vec<usize>,
    /// The numbers, flattened.
    pub data: Vec<T>,
}

/// Element types a scanned number becomes: parsed as `f64` (correctly rounded), then converted
/// as `as` does, which is what the general path does with `serde_json`'s `f64`.
pub trait Leaf: Sized + Copy {
    /// The element for a finite `f64`; `None` when it is out of this type's range.
    fn from_f64(x: f64) -> Option<Self>;
}

impl Leaf for f32 {
    fn from_f64(x: f64) -> Option<f32> {
        let y = x as f32;
        y.is_finite().then_some(y)
    }
}

impl Leaf for f64 {
    fn from_f64(x: f64) -> Option<f64> {
        x.is_finite().then_some(x)
    }
}

/// Nesting beyond which the scanner declines: tensors have at most a handful of dims.
const MAX_DEPTH: usize = 32;

/// Elements to reserve for a body of `len` bytes: about eight bytes per number (`0.1234567, `
/// is eleven); the buffer grows if numbers are shorter.
fn capacity(len: usize) -> usize {
    len / 8 + 16
}

/// Reads `bytes` when they are exactly `{"data": <rectangular array of numbers>}`.
pub fn seed_data<T: Leaf>(bytes: &[u8]) -> Option<Scanned<T>> {
    let mut s = Scanner { b: bytes, i: 0 };
    s.ws();
    s.eat(b'{')?;
    s.ws();
    s.literal(b"\"data\"")?;
    s.ws();
    s.eat(b':')?;
    s.ws();
    let mut out = Scanned { shape: Vec::new(), data: Vec::with_capacity(capacity(bytes.len())) };
    let mut leaf_depth = None;
    s.array(0, &mut out, &mut leaf_depth)?;
    s.ws();
    s.eat(b'}')?;
    s.ws();
    (s.i == bytes.len() && leaf_depth == Some(out.shape.len())).then_some(out)
}

/// Reads `bytes` when they are exactly one rectangular array of numbers (an Open Inference
/// Protocol input's `data`, flat or nested).
pub fn numbers<T: Leaf>(bytes: &[u8]) -> Option<Scanned<T>> {
    let mut s = Scanner { b: bytes, i: 0 };
    s.ws();
    let mut out = Scanned { shape: Vec::new(), data: Vec::with_capacity(capacity(bytes.len())) };
    let mut leaf_depth = None;
    s.array(0, &mut out, &mut leaf_depth)?;
    s.ws();
    (s.i == bytes.len() && leaf_depth == Some(out.shape.len())).then_some(out)
}

/// Reads the rectangular array of numbers that starts at `bytes[at]` (its `[`); returns it and
/// the index just past its `]`. Used to take an Open Inference Protocol input's `data` out of a
/// request body in place (`split.rs`).
pub fn array_at<T: Leaf>(bytes: &[u8], at: usize) -> Option<(Scanned<T>, usize)> {
    let mut s = Scanner { b: bytes, i: at };
    // Where the array ends is not known before it is read, and a body may hold many: the
    // buffer starts small and grows with what is read (sizing it from the rest of the body let
    // a body of many one-number inputs reserve the body's size over and over).
    let mut out = Scanned { shape: Vec::new(), data: Vec::with_capacity(16) };
    let mut leaf_depth = None;
    s.array(0, &mut out, &mut leaf_depth)?;
    (leaf_depth == Some(out.shape.len())).then_some((out, s.i))
}

/// The value of eight ASCII digits, the first in the lowest byte (the SWAR fold of simdjson and
/// fast_float: pairs, then quads, then the whole, by multiplications).
fn eight_digits(v: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let v = v.wrapping_sub(0x3030_3030_3030_3030);
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    let v1 = (v & MASK).wrapping_mul(MUL1);
    let v2 = ((v >> 16) & MASK).wrapping_mul(MUL2);
    u64::from((v1.wrapping_add(v2) >> 32) as u32)
}

/// A position in a JSON text, with the token steps the scanner and the request splitter
/// (`split.rs`) share.
pub(super) struct Scanner<'a> {
    /// The text.
    pub(super) b: &'a [u8],
    /// The next byte to read.
    pub(super) i: usize,
}

impl Scanner<'_> {
    /// The next byte, if any.
    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips JSON whitespace (space, tab, line feed, carriage return).
    pub(super) fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// Steps over `c` when it is next.
    pub(super) fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn literal(&mut self, text: &[u8]) -> Option<()> {
        self.b[self.i..].starts_with(text).then(|| self.i += text.len())
    }

    /// Skips digits, folding them into `mantissa`; returns how many. The fold wraps past 19
    /// digits, so callers count digits to know whether it is exact. Eight bytes are classified
    /// and folded at a time (SWAR), so a run of digits costs no branch per digit.
    fn digits(&mut self, mantissa: &mut u64) -> usize {
        const POW10: [u64; 9] =
            [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];
        let start = self.i;
        let mut m = *mantissa;
        while let Some(chunk) = self.b.get(self.i..self.i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let v = u64::from_le_bytes(word);
            // A byte is a digit when neither b - '0' nor b + 0x46 carries into its top bit.
            let outside = (v.wrapping_sub(0x3030_3030_3030_3030)
                | v.wrapping_add(0x4646_4646_4646_4646))
                & 0x8080_8080_8080_8080;
            let n = (outside.trailing_zeros() / 8) as usize;
            if n == 0 {
                *mantissa = m;
                return self.i - start;
            }
            // The n digits moved to the top bytes, '0' below: eight digits with leading zeros.
            let digits =
                if n == 8 { v } else { (v << (8 * (8 - n))) | (0x3030_3030_3030_3030 >> (8 * n)) };
            m = m.wrapping_mul(POW10[n]).wrapping_add(eight_digits(digits));
            self.i += n;
            if n < 8 {
                *mantissa = m;
                return self.i - start;
            }
        }
        while let Some(c @ b'0'..=b'9') = self.b.get(self.i).copied() {
            m = m.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            self.i += 1;
        }
        *mantissa = m;
        self.i - start
    }

    /// One number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. A number whose
    /// digits fit in 2^53 with a power of ten up to 10^22 is one exact division or product,
    /// which IEEE 754 rounds once, correctly (Clinger's fast path, as `str::parse` takes it
    /// too); any other goes to `str::parse::<f64>`.
    fn number<T: Leaf>(&mut self) -> Option<T> {
        const POW10: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let mut mantissa = 0u64;
        let mut count = match self.peek()? {
            b'0' => {
                self.i += 1;
                1
            }
            b'1'..=b'9' => self.digits(&mut mantissa),
            _ => return None,
        };
        let mut exponent = 0i64;
        if self.peek() == Some(b'.') {
            self.i += 1;
            let fraction = self.digits(&mut mantissa);
            (fraction > 0).then_some(())?;
            count += fraction;
            exponent = -(fraction as i64);
        }
        // At most 19 digits cannot wrap a u64.
        let mut exact = count <= 19;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            let sign = match self.peek() {
                Some(b'-') => -1,
                Some(b'+') => 1,
                _ => 0,
            };
            if sign != 0 {
                self.i += 1;
            }
            let mut e = 0u64;
            let e_digits = self.digits(&mut e);
            (e_digits > 0).then_some(())?;
            if e_digits <= 7 {
                exponent += if sign < 0 { -(e as i64) } else { e as i64 };
            } else {
                exact = false;
            }
        }
        let value = if exact && mantissa < 1 << 53 && exponent.unsigned_abs() <= 22 {
            let m = mantissa as f64;
            let p = POW10[exponent.unsigned_abs() as usize];
            let v = if exponent < 0 { m / p } else { m * p };
            if negative {
                -v
            } else {
                v
            }
        } else {
            // The token is ASCII by construction.
            std::str::from_utf8(&self.b[start..self.i]).ok()?.parse::<f64>().ok()?
        };
        T::from_f64(value)
    }

    /// A non-empty array at `depth` whose leaves all sit at one depth and whose levels all have
    /// one length.
    fn array<T: Leaf>(
        &mut self,
        depth: usize,
        out: &mut Scanned<T>,
        leaf_depth: &mut Option<usize>,
    ) -> Option<()> {
        // Deeper arrays are left to serde, which refuses them by name (its recursion limit);
        // this bound keeps the recursion off the end of a thread's stack.
        if depth >= MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        if leaf_depth.is_some_and(|d| d <= depth) {
            return None;
        }
        if out.shape.len() == depth {
            out.shape.push(usize::MAX);
        }
        let mut count = 0;
        loop {
            self.ws();
            if self.peek()? == b'[' {
                self.array(depth + 1, out, leaf_depth)?;
            } else {
                match *leaf_depth {
                    None if out.shape.len() == depth + 1 => *leaf_depth = Some(depth + 1),
                    Some(d) if d == depth + 1 => {}
                    _ => return None,
                }
                let x = self.number()?;
                out.data.push(x);
            }
            count += 1;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    break;
                }
                _ => return None,
            }
        }
        match out.shape[depth] {
            usize::MAX => out.shape[depth] = count,
            n if n == count => {}
            _ => return None,
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(body: &str) -> Option<(Vec<usize>, Vec<f64>)> {
        seed_data::<f64>(body.as_bytes()).map(|s| (s.shape, s.data))
    }

    #[test]
    fn reads_rectangular_arrays_of_numbers() {
        assert_eq!(
            scan(r#"{"data": [[1, 2.5, -3e2]]}"#),
            Some((vec![1, 3], vec![1.0, 2.5, -300.0]))
        );
        assert_eq!(
            scan(" {\n\t\"data\" :[ [ 0 ,-0.5E+1],[1e-1,2] ] }\r\n"),
            Some((vec![2, 2], vec![0.0, -5.0, 0.1, 2.0]))
        );
        assert_eq!(scan(r#"{"data": [[[1], [2]]]}"#), Some((vec![1, 2, 1], vec![1.0, 2.0])));
        let neg_zero = scan(r#"{"data": [-0]}"#).unwrap().1[0];
        assert!(neg_zero == 0.0 && neg_zero.is_sign_negative());
    }

    #[test]
    fn numbers_are_correctly_rounded() {
        // 17 significant digits, as Python's repr writes them.
        let text = "0.11722640693187714";
        let (_, data) = scan(&format!(r#"{{"data": [{text}]}}"#)).unwrap();
        assert_eq!(data[0], text.parse::<f64>().unwrap());
        let texts = [
            "0.1172264",
            "-0.4906118",
            "123456789012345678",
            "9007199254740993",
            "1e22",
            "1e23",
            "-2.5e-3",
            "4.9e-324",
            "1.7976931348623157e308",
            "0.30000000000000004",
            "5E+2",
            "0",
            "1e-99999999999999999999",
            "0.000000000000000000000000001",
        ];
        let body = format!(r#"{{"data": [{}]}}"#, texts.join(", "));
        let (_, data) = scan(&body).unwrap();
        for (text, got) in texts.iter().zip(data) {
            assert_eq!(got.to_bits(), text.parse::<f64>().unwrap().to_bits(), "{text}");
        }
        let f = seed_data::<f32>(br#"{"data": [0.1172264]}"#).unwrap();
        assert_eq!(f.data[0], 0.1172264f64 as f32);
    }

    #[test]
    fn many_numbers_read_as_the_standard_parser_reads_them() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut texts = Vec::new();
        for _ in 0..20_000 {
            let r = next();
            let int = (r % 10u64.pow((r >> 8) as u32 % 20)).to_string();
            let frac = (next() % 10u64.pow((r >> 16) as u32 % 20)).to_string();
            let mut t = if r & 1 == 1 { format!("-{int}") } else { int };
            if r & 2 == 2 {
                t = format!("{t}.{}{frac}", "0".repeat((r >> 24) as usize % 4));
            }
            if r & 4 == 4 {
                t = format!("{t}e{}{}", if r & 8 == 8 { "-" } else { "" }, (r >> 32) % 280);
            }
            texts.push(t);
        }
        let body = format!(r#"{{"data": [{}]}}"#, texts.join(","));
        let (_, data) = scan(&body).expect("all are JSON numbers within range");
        for (text, got) in texts.iter().zip(data) {
            let want = text.parse::<f64>().unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "{text}");
        }
    }

    #[test]
    fn declines_everything_else() {
        for body in [
            r#"{"data": [[1, 2], [3]]}"#,
            r#"{"data": [1, [2]]}"#,
            r#"{"data": [[1], 2]}"#,
            r#"{"data": []}"#,
            r#"{"data": [[]]}"#,
            r#"{"data": 1}"#,
            r#"{"data": [1,]}"#,
            r#"{"data": [01]}"#,
            r#"{"data": [1.]}"#,
            r#"{"data": [.5]}"#,
            r#"{"data": [+1]}"#,
            r#"{"data": [1e]}"#,
            r#"{"data": [NaN]}"#,
            r#"{"data": [Infinity]}"#,
            r#"{"data": [1e400]}"#,
            r#"{"data": [1e99999999999999999999999]}"#,
            r#"{"data": ["1"]}"#,
            r#"{"data": [1] "#,
            r#"{"data": [1]} x"#,
            r#"{"data": [1], "id": 2}"#,
            r#"{"id": 2, "data": [1]}"#,
            r#"{"dat\u0061": [1]}"#,
            r#"[1]"#,
            "",
        ] {
            assert_eq!(scan(body), None, "{body}");
        }
        assert!(seed_data::<f32>(br#"{"data": [1e39]}"#).is_none(), "beyond f32");
        // A million brackets: declined, not a stack overflow.
        let deep = format!(r#"{{"data": {}1{}}}"#, "[".repeat(1 << 20), "]".repeat(1 << 20));
        assert!(seed_data::<f32>(deep.as_bytes()).is_none());
        assert!(numbers::<f32>(&deep.as_bytes()[9..deep.len() - 1]).is_none());
        assert_eq!(numbers::<f64>(b" [[1, 2], [3, 4]] ").map(|s| s.shape), Some(vec![2, 2]));
        for raw in ["1", "[1] 2", "[]", "[\"a\"]", "[true]", "null"] {
            assert!(numbers::<f64>(raw.as_bytes()).is_none(), "{raw}");
        }
    }
}
