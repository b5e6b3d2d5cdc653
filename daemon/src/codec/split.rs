//! Splits an Open Inference Protocol JSON request into its inputs' `data` arrays, read by the
//! scanner (`scan.rs`) where they stand, and the rest of the body with each of them replaced by
//! `null`, small enough for serde's typed read. The arrays are walked once: before, serde skipped
//! each one (to capture it as a `RawValue`) and the scanner then read it again, which was a third
//! of a 64-row request's CPU.
//!
//! The walk only finds boundaries: every byte outside the arrays is then read by serde, which
//! checks the JSON grammar, and every byte inside by the scanner, which checks the number
//! grammar. Anything unusual (an input written as an array, an escape in a key, a second
//! `inputs` or `data`) returns `None`, and the caller takes the general path, which words every
//! error (SPEC §5, Open Inference Protocol inference request).

use super::scan::{self, Scanned, Scanner};

/// A request body taken apart by [`split`].
pub struct Split {
    /// The body with each input's `data` array replaced by `null` (valid UTF-8 when returned).
    pub rest: String,
    /// For each element of `inputs`, in order: the numbers of its `data` array, as `f64`
    /// (each converted as the general path converts a `serde_json` number), if it had one.
    pub data: Vec<Option<Scanned<f64>>>,
}

/// Takes `body` apart; `None` when it is not an object whose `inputs` is an array of objects
/// with number arrays as `data`, in the plain spelling this path handles.
pub fn split(body: &[u8]) -> Option<Split> {
    let mut w = Walk { s: Scanner { b: body, i: 0 }, data: Vec::new(), cuts: Vec::new() };
    w.request()?;
    let mut rest =
        Vec::with_capacity(body.len() - w.cuts.iter().map(|(s, e)| e - s).sum::<usize>());
    let mut from = 0;
    for (start, end) in &w.cuts {
        rest.extend_from_slice(&body[from..*start]);
        rest.extend_from_slice(b"null");
        from = *end;
    }
    rest.extend_from_slice(&body[from..]);
    Some(Split { rest: String::from_utf8(rest).ok()?, data: w.data })
}

struct Walk<'a> {
    /// The position in the body (the scanner's token steps).
    s: Scanner<'a>,
    data: Vec<Option<Scanned<f64>>>,
    /// Byte ranges of the `data` arrays taken out, in order.
    cuts: Vec<(usize, usize)>,
}

impl<'a> Walk<'a> {
    /// A string at `"`: its raw bytes between the quotes.
    fn string(&mut self) -> Option<&'a [u8]> {
        let s = &mut self.s;
        s.eat(b'"')?;
        let start = s.i;
        loop {
            match s.peek()? {
                b'"' => break,
                // The escaped byte is never the closing quote; serde checks the escape itself.
                b'\\' => s.i += 2,
                _ => s.i += 1,
            }
        }
        let text = &s.b[start..s.i];
        s.i += 1;
        Some(text)
    }

    /// A key and its colon; `None` for a key with an escape (it could spell `data`).
    fn key(&mut self) -> Option<&'a [u8]> {
        let key = self.string()?;
        if key.contains(&b'\\') {
            return None;
        }
        self.s.ws();
        self.s.eat(b':')?;
        self.s.ws();
        Some(key)
    }

    /// Skips any value without recursion (nesting is counted, so depth costs no stack); serde
    /// reads these bytes afterwards and checks them.
    fn skip(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.s.peek()? {
                b'"' => {
                    self.string()?;
                }
                b'[' | b'{' => {
                    depth += 1;
                    self.s.i += 1;
                }
                b']' | b'}' if depth > 0 => {
                    depth -= 1;
                    self.s.i += 1;
                }
                b',' | b']' | b'}' if depth == 0 => return Some(()),
                _ => self.s.i += 1,
            }
            if depth == 0
                && matches!(self.s.peek(), Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'))
            {
                return Some(());
            }
        }
    }

    /// The elements of an array or object whose opening bracket was just read, up to and past
    /// `close`; `element` reads each one, the commas between them are read here.
    fn list(&mut self, close: u8, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.s.ws();
        if self.s.eat(close).is_some() {
            return Some(());
        }
        loop {
            element(self)?;
            self.s.ws();
            if self.s.eat(close).is_some() {
                return Some(());
            }
            self.s.eat(b',')?;
            self.s.ws();
        }
    }

    /// Members of an object, after its `{`, up to and past its `}`; `member` reads each value.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &[u8]) -> Option<()>) -> Option<()> {
        self.list(b'}', |w| {
            let key = w.key()?;
            member(w, key)
        })
    }

    fn request(&mut self) -> Option<()> {
        self.s.ws();
        self.s.eat(b'{')?;
        let mut seen = false;
        self.members(|w, key| match key {
            b"inputs" if !seen && w.s.peek() == Some(b'[') => {
                seen = true;
                w.inputs()
            }
            b"inputs" => None,
            _ => w.skip(),
        })?;
        self.s.ws();
        (seen && self.s.i == self.s.b.len()).then_some(())
    }

    /// The `inputs` array, at its `[`: objects only.
    fn inputs(&mut self) -> Option<()> {
        self.s.eat(b'[')?;
        self.list(b']', |w| {
            w.s.eat(b'{')?;
            let index = w.data.len();
            w.data.push(None);
            w.members(|w, key| match key {
                b"data" if w.data[index].is_none() && w.s.peek() == Some(b'[') => {
                    let start = w.s.i;
                    let (numbers, end) = scan::array_at::<f64>(w.s.b, start)?;
                    w.data[index] = Some(numbers);
                    w.cuts.push((start, end));
                    w.s.i = end;
                    Some(())
                }
                b"data" if w.data[index].is_some() => None,
                _ => w.skip(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(body: &str) -> Option<(String, Vec<Option<Vec<f64>>>)> {
        let s = split(body.as_bytes())?;
        Some((s.rest, s.data.into_iter().map(|d| d.map(|d| d.data)).collect()))
    }

    #[test]
    fn takes_out_each_inputs_data_array() {
        let body = r#" {"id": "a", "inputs": [ {"name": "x", "data": [[1, 2], [3, 4.5]], "shape": [2, 2]},
            {"name": "y", "parameters": {"data": [9]}, "data" : [7]}, {"name": "z"} ],
            "outputs": [{"name": "o", "data": [1]}] } "#;
        let (rest, data) = parts(body).unwrap();
        assert_eq!(data, vec![Some(vec![1.0, 2.0, 3.0, 4.5]), Some(vec![7.0]), None]);
        assert!(rest.contains(r#""data": null, "shape""#), "{rest}");
        assert!(rest.contains(r#"{"data": [9]}, "data" : null}"#), "{rest}");
        assert!(rest.contains(r#""outputs": [{"name": "o", "data": [1]}]"#), "{rest}");
        let value: serde_json::Value = serde_json::from_str(&rest).unwrap();
        assert_eq!(value["inputs"][0]["data"], serde_json::Value::Null);
    }

    #[test]
    fn strings_that_look_like_members_are_not_taken_for_them() {
        let body = r#"{"inputs": [{"name": "x\", \"data\": [1]", "data": [2]}]}"#;
        let (rest, data) = parts(body).unwrap();
        assert_eq!(data, vec![Some(vec![2.0])]);
        assert!(rest.contains(r#""x\", \"data\": [1]""#));
    }

    #[test]
    fn declines_what_the_general_path_should_word() {
        for body in [
            r#"{"inputs": [["x", [1], "FP32", [1]]]}"#,
            r#"{"inputs": [{"d\u0061ta": [1]}]}"#,
            r#"{"inputs": [{"data": [1], "data": [2]}]}"#,
            r#"{"inputs": [{"data": [1]}], "inputs": []}"#,
            r#"{"inputs": [{"data": ["a"]}]}"#,
            r#"{"inputs": [{"data": [[1], [2, 3]]}]}"#,
            r#"{"inputs": [{"data": [1]}]} trailing"#,
            r#"{"inputs": [{"data": [1]}"#,
            r#"{"outputs": []}"#,
            r#"[]"#,
        ] {
            assert!(split(body.as_bytes()).is_none(), "{body}");
        }
    }

    #[test]
    fn many_inputs_reserve_only_what_they_hold() {
        // 80,000 one-number inputs in a 1 MiB body: each buffer is sized by its own array,
        // not by the rest of the body (which reserved about 40 GB here).
        let body = format!(r#"{{"inputs": [{}]}}"#, vec![r#"{"data":[0]}"#; 80_000].join(","));
        let s = split(body.as_bytes()).unwrap();
        assert_eq!(s.data.len(), 80_000);
        let reserved: usize = s.data.iter().flatten().map(|d| d.data.capacity()).sum();
        assert!(reserved <= 80_000 * 16, "{reserved} elements reserved");
    }

    #[test]
    fn deep_nesting_elsewhere_costs_no_stack() {
        let deep = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        let body = format!(r#"{{"parameters": {deep}, "inputs": [{{"data": [1]}}]}}"#);
        let s = split(body.as_bytes()).unwrap();
        // serde then refuses the nesting by name (its recursion limit).
        assert!(serde_json::from_str::<serde_json::Value>(&s.rest).is_err());
    }
}
