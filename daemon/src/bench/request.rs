//! `edgeserve bench -r FILE`: the request body, what kind it is, and the route it goes to.

use std::path::Path;

use axum::body::Bytes;

use super::BenchError;

/// What a request file holds, and so which route and content type it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `{"data": ...}` or `{"inputs": {...}}`: the seed route.
    Seed,
    /// `{"inputs": [...]}`: Open Inference Protocol JSON.
    OipJson,
    /// A JSON header followed by raw tensor bytes: the binary tensor extension.
    OipBinary {
        /// Bytes of the JSON header (`Inference-Header-Content-Length`).
        header_length: usize,
    },
}

impl Kind {
    /// A short name for reports.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Seed => "seed-json",
            Kind::OipJson => "oip-json",
            Kind::OipBinary { .. } => "oip-binary",
        }
    }

    /// The scoring route of `endpoint` for this kind of body.
    pub fn route(self, endpoint: &str) -> String {
        match self {
            Kind::Seed => format!("/api/v1/service/{endpoint}/score"),
            Kind::OipJson | Kind::OipBinary { .. } => format!("/v2/models/{endpoint}/infer"),
        }
    }

    /// The body's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::OipBinary { .. } => "application/octet-stream",
            _ => "application/json",
        }
    }
}

/// A request body read from a file.
#[derive(Clone, Debug)]
pub struct RequestBody {
    /// The bytes sent, unchanged.
    pub bytes: Bytes,
    /// What they are.
    pub kind: Kind,
}

/// Reads and classifies a request file. `header_length` (from an explicit
/// `--header Inference-Header-Content-Length:N`) forces the binary kind.
pub fn load(path: &Path, header_length: Option<usize>) -> Result<RequestBody, BenchError> {
    let bytes = std::fs::read(path)
        .map_err(|source| BenchError::RequestFile { path: path.to_path_buf(), source })?;
    let kind = classify(&bytes, header_length)
        .map_err(|reason| BenchError::RequestBody { path: path.to_path_buf(), reason })?;
    Ok(RequestBody { bytes: Bytes::from(bytes), kind })
}

/// Seed JSON, OIP JSON, or a JSON object followed by binary tensor data.
pub fn classify(bytes: &[u8], header_length: Option<usize>) -> Result<Kind, String> {
    if let Some(n) = header_length {
        if n > bytes.len() {
            return Err(format!(
                "Inference-Header-Content-Length {n} is past the file's {} bytes",
                bytes.len()
            ));
        }
        return Ok(Kind::OipBinary { header_length: n });
    }
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<serde_json::Value>();
    let first = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(format!("not JSON, nor a JSON header and binary data: {e}")),
        None => return Err("the file is empty".into()),
    };
    let end = stream.byte_offset();
    let Some(obj) = first.as_object() else {
        return Err("the request must be a JSON object".into());
    };
    let oip = obj.get("inputs").is_some_and(serde_json::Value::is_array);
    if bytes[end..].iter().all(u8::is_ascii_whitespace) {
        return Ok(if oip { Kind::OipJson } else { Kind::Seed });
    }
    if !oip {
        return Err("binary data follows a JSON header that has no \"inputs\" array".into());
    }
    Ok(Kind::OipBinary { header_length: end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_told_apart() {
        assert_eq!(classify(br#"{"data": [[1, 2]]}"#, None).unwrap(), Kind::Seed);
        assert_eq!(classify(br#"{"inputs": {"x": [1]}}"#, None).unwrap(), Kind::Seed);
        let oip = br#"{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}"#;
        assert_eq!(classify(oip, None).unwrap(), Kind::OipJson);
        let mut bin = br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}]}"#.to_vec();
        let header = bin.len();
        bin.extend_from_slice(&1.0f32.to_le_bytes());
        assert_eq!(classify(&bin, None).unwrap(), Kind::OipBinary { header_length: header });
        assert_eq!(classify(&bin, Some(3)).unwrap(), Kind::OipBinary { header_length: 3 });
    }

    #[test]
    fn bad_files_say_why() {
        assert!(classify(b"", None).unwrap_err().contains("empty"));
        assert!(classify(b"[1, 2]", None).unwrap_err().contains("JSON object"));
        assert!(classify(b"{\"data\": [1]}\x01\x02", None).unwrap_err().contains("\"inputs\""));
        assert!(classify(b"{oops", None).unwrap_err().contains("not JSON"));
        assert!(classify(b"{}", Some(9)).unwrap_err().contains("past the file"));
    }

    #[test]
    fn routes_follow_the_kind() {
        assert_eq!(Kind::Seed.route("mlp"), "/api/v1/service/mlp/score");
        assert_eq!(Kind::OipJson.route("mlp"), "/v2/models/mlp/infer");
    }
}
