//! The decoding hot path: a seed body `{"data": [[numbers...]]}` read straight from its bytes into
//! a typed buffer (a serde `DeserializeSeed`), without building a `serde_json::Value` tree.
//! It covers the common case only (one float input, numbers in a rectangular array); a body that
//! is exactly `{"data": [...]}` is scanned without serde (`scan.rs`), one with other members goes
//! through serde here; anything
//! else — other dtypes, `"inputs"`, a ragged array, a non-number, invalid JSON — returns `None`
//! and the caller takes the general path, which also words every error message.

use std::fmt;

use edgeserve_accel::{DType, Signature, Tensor, TensorData};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// A rectangular array of numbers, flattened as it is read.
struct Nested<T> {
    shape: Vec<usize>,
    data: Vec<T>,
    /// Depth at which numbers were found (all leaves must sit at the same depth).
    leaf_depth: Option<usize>,
}

/// Numbers a leaf can become.
trait Leaf: Sized {
    fn from_f64(x: f64) -> Self;
}

impl Leaf for f32 {
    fn from_f64(x: f64) -> f32 {
        x as f32
    }
}

impl Leaf for f64 {
    fn from_f64(x: f64) -> f64 {
        x
    }
}

/// One level of the nested array, at `depth`.
struct Level<'a, T> {
    nested: &'a mut Nested<T>,
    depth: usize,
}

impl<'de, T: Leaf> DeserializeSeed<'de> for Level<'_, T> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<T: Leaf> Level<'_, T> {
    fn leaf<E: de::Error>(self, x: f64) -> Result<(), E> {
        match self.nested.leaf_depth {
            None if self.nested.shape.len() == self.depth => {
                self.nested.leaf_depth = Some(self.depth)
            }
            Some(d) if d == self.depth => {}
            _ => return Err(E::custom("ragged")),
        }
        self.nested.data.push(T::from_f64(x));
        Ok(())
    }
}

impl<'de, T: Leaf> Visitor<'de> for Level<'_, T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or an array")
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<(), E> {
        self.leaf(x)
    }
    fn visit_i64<E: de::Error>(self, x: i64) -> Result<(), E> {
        self.leaf(x as f64)
    }
    fn visit_u64<E: de::Error>(self, x: u64) -> Result<(), E> {
        self.leaf(x as f64)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth = self.depth;
        let nested = self.nested;
        if nested.leaf_depth.is_some_and(|d| d <= depth) {
            return Err(de::Error::custom("ragged"));
        }
        if nested.shape.len() == depth {
            nested.shape.push(usize::MAX);
        }
        let mut count = 0;
        while seq.next_element_seed(Level { nested: &mut *nested, depth: depth + 1 })?.is_some() {
            count += 1;
        }
        match nested.shape[depth] {
            usize::MAX => nested.shape[depth] = count,
            n if n == count => {}
            _ => return Err(de::Error::custom("ragged")),
        }
        Ok(())
    }
}

/// The top level of a seed body: `data` read into the nested buffer, every other member skipped;
/// `inputs` (or a second `data`) makes it decline.
struct Body<'a, T> {
    nested: &'a mut Nested<T>,
}

impl<'de, T: Leaf> DeserializeSeed<'de> for Body<'_, T> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: Leaf> Visitor<'de> for Body<'_, T> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "data" if !seen => {
                    seen = true;
                    map.next_value_seed(Level { nested: &mut *self.nested, depth: 0 })?;
                }
                "data" | "inputs" => return Err(de::Error::custom("general path")),
                _ => {
                    // Read as the general path reads it (a tree), so a member it refuses (a
                    // number out of range, nesting past serde's limit) is refused here too.
                    map.next_value::<serde_json::Value>()?;
                }
            }
        }
        Ok(seen)
    }
}

fn read<T: Leaf>(bytes: &[u8]) -> Option<Nested<T>> {
    let mut nested = Nested { shape: Vec::new(), data: Vec::new(), leaf_depth: None };
    // serde_json skips ignored members without checking their UTF-8, and the general path
    // refuses a body that is not UTF-8: check it whole first (found by the seed_json fuzz target).
    let text = std::str::from_utf8(bytes).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let seen = Body { nested: &mut nested }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    // A bare number as `data`, or no `data`: the general path words those.
    (seen && !nested.shape.is_empty() && nested.leaf_depth == Some(nested.shape.len()))
        .then_some(nested)
}

/// Decodes a seed body for a one-input float model straight from its bytes; `None` when the
/// general path must decide (including every error).
pub fn seed_decode(bytes: &[u8], sig: &Signature) -> Option<Vec<Tensor>> {
    let [spec] = sig.inputs.as_slice() else { return None };
    let scanned = match spec.dtype {
        DType::F32 => {
            super::scan::seed_data::<f32>(bytes).map(|s| (s.shape, TensorData::F32(s.data)))
        }
        DType::F64 => {
            super::scan::seed_data::<f64>(bytes).map(|s| (s.shape, TensorData::F64(s.data)))
        }
        _ => None,
    };
    let (mut shape, data) = match spec.dtype {
        _ if scanned.is_some() => scanned?,
        DType::F32 => {
            let n = read::<f32>(bytes)?;
            // Beyond the f32 range: the general path refuses it by name.
            if n.data.iter().any(|x| x.is_infinite()) {
                return None;
            }
            (n.shape, TensorData::F32(n.data))
        }
        DType::F64 => {
            let n = read::<f64>(bytes)?;
            (n.shape, TensorData::F64(n.data))
        }
        _ => return None,
    };
    // Rows of flattened items are accepted for inputs of higher rank (as the general path does).
    if shape.len() == 2 && spec.shape.len() > 2 && spec.item_len() == Some(shape[1]) {
        shape =
            std::iter::once(shape[0]).chain(spec.shape[1..].iter().map(|&d| d as usize)).collect();
    }
    if shape.len() != spec.shape.len() {
        return None;
    }
    let tensor = Tensor::new(shape, data).ok()?;
    spec.check(&tensor).ok()?;
    Some(vec![tensor])
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeserve_accel::TensorSpec;

    fn sig(shape: Vec<i64>, dtype: DType) -> Signature {
        Signature {
            inputs: vec![TensorSpec { name: "x".into(), dtype, shape }],
            outputs: Vec::new(),
            zipmaps: Default::default(),
        }
    }

    #[test]
    fn agrees_with_the_general_path() {
        let s = sig(vec![-1, 3], DType::F32);
        for body in [
            r#"{"data": [[1, 2.5, -3e2]]}"#,
            r#"{"data": [[1, 2, 3], [4, 5, 6]], "extra": {"a": [1]}}"#,
            r#"{"id": "x", "data": [[0.1, 0.2, 0.3]]}"#,
        ] {
            let fast = seed_decode(body.as_bytes(), &s).expect(body);
            let value: serde_json::Value = serde_json::from_str(body).unwrap();
            let general = super::super::seed::decode(&value, &s).unwrap();
            assert_eq!(fast, general, "{body}");
        }
        // A member the route does not use is still JSON the general path reads: a number out of
        // range there makes the body not JSON, on both paths (a fuzz finding).
        let out_of_range = br#"{"data": [[1, 2, 3]], "extra": {"deep": [[-4.0, -1e4003]]}}"#;
        assert!(serde_json::from_slice::<serde_json::Value>(out_of_range).is_err());
        assert!(seed_decode(out_of_range, &s).is_none());
        let cnn = sig(vec![-1, 1, 2, 2], DType::F32);
        let t = seed_decode(br#"{"data": [[1, 2, 3, 4]]}"#, &cnn).unwrap();
        assert_eq!(t[0].shape(), &[1, 1, 2, 2]);
    }

    #[test]
    fn declines_what_the_general_path_must_word() {
        let s = sig(vec![-1, 3], DType::F32);
        for body in [
            r#"{"data": [[1, 2], [3]]}"#,
            r#"{"data": [[1, "a", 3]]}"#,
            r#"{"data": [[1, 2, 3]], "inputs": {}}"#,
            r#"{"data": [[1, 2]]}"#,
            r#"{"data": [1, [2]]}"#,
            r#"{"data": [[[1], 2]]}"#,
            r#"{"data": 1}"#,
            r#"{"data": []}"#,
            r#"{"other": 1}"#,
            r#"{"data": [[1, 2, 3]]} trailing"#,
            r#"[1, 2, 3]"#,
            r#"{"data": [[1, 2, 3]]"#,
        ] {
            assert!(seed_decode(body.as_bytes(), &s).is_none(), "{body}");
        }
        assert!(seed_decode(br#"{"data": [[1, 2, 3]]}"#, &sig(vec![-1, 3], DType::I64)).is_none());
    }
}
