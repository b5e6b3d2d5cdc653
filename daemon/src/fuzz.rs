//! Entry points of the fuzz targets: each takes arbitrary bytes, feeds them to one parser of
//! untrusted input the way the daemon does, and drops the result. Whatever the bytes, each must
//! return: a panic, a hang or (under the fuzzer's sanitizers) a memory error is a bug.
//!
//! `fuzz/fuzz_targets/*.rs` call them under libFuzzer (`cargo fuzz run seed_json`, see
//! `fuzz/Cargo.toml`); `daemon/tests/fuzz_smoke.rs` runs them on stable over the committed seeds
//! in `fuzz/seeds/<target>/` and deterministic mutations of them, in every test run.
//!
//! | target        | input                                          | parser under test              |
//! |---------------|------------------------------------------------|--------------------------------|
//! | `seed_json`   | a seed scoring body (`{"data": ...}`)          | [`codec::fast`], [`codec::seed`] |
//! | `oip_json`    | an Open Inference Protocol JSON body           | [`codec::oip`] decode, encode  |
//! | `oip_binary`  | a JSON header, then raw tensor bytes           | [`codec::oip`] with binary data |
//! | `tls_pem`     | a cname line, then PEM certificates and a key  | [`material::from_pem`]         |
//! | `config_toml` | the config file                                | [`config::load_from_str`]      |
//! | `jwt`         | a bearer token                                 | OIDC and token-mode verifiers  |
//! | `jwks`        | a JSON Web Key Set file                        | [`OidcVerifier::from_jwks`]    |

use std::path::Path;
use std::sync::OnceLock;

use edgeserve_accel::{DType, Signature, TensorSpec, ZipMapLabels};

use crate::auth::oidc::OidcVerifier;
use crate::auth::token::TokenVerifier;
use crate::codec;
use crate::config::{self, OidcSection};
use crate::listen::material;

/// The model signatures every scoring body is decoded against: a one-input f32 MLP, a classifier
/// with a ZipMap output, and a model whose inputs cover the other dtypes and a fixed shape.
fn signatures() -> &'static [Signature] {
    static SIGNATURES: OnceLock<Vec<Signature>> = OnceLock::new();
    SIGNATURES.get_or_init(|| {
        let spec = |name: &str, dtype, shape: &[i64]| TensorSpec {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
        };
        let mlp = Signature {
            inputs: vec![spec("x", DType::F32, &[-1, 4])],
            outputs: vec![spec("y", DType::F32, &[-1, 3])],
            zipmaps: Default::default(),
        };
        let mut classifier = Signature {
            inputs: vec![spec("input", DType::F64, &[-1, 1, 2, 2])],
            outputs: vec![
                spec("label", DType::I64, &[-1]),
                spec("probabilities", DType::F32, &[-1, 3]),
            ],
            zipmaps: Default::default(),
        };
        classifier.zipmaps.insert("probabilities".into(), ZipMapLabels::Int64(vec![0, 1, 2]));
        let mixed = Signature {
            inputs: vec![
                spec("ids", DType::I64, &[-1, 2]),
                spec("text", DType::Str, &[-1]),
                spec("mask", DType::Bool, &[-1, -1]),
                spec("half", DType::F16, &[-1]),
                spec("pixels", DType::U8, &[2, 2]),
                spec("count", DType::I32, &[-1]),
            ],
            outputs: vec![spec("out", DType::F32, &[-1])],
            zipmaps: Default::default(),
        };
        vec![mlp, classifier, mixed]
    })
}

/// The signature that answers with its inputs: decoded tensors are encoded back as outputs.
fn echo(sig: &Signature) -> Signature {
    Signature {
        inputs: sig.inputs.clone(),
        outputs: sig.inputs.clone(),
        zipmaps: Default::default(),
    }
}

/// A seed scoring body (`POST /api/v1/service/{endpoint}/score`), decoded against each test
/// signature as the route does: the bytes through the hot path ([`codec::fast::seed_decode`]),
/// then the JSON tree through the general decoder; what decodes is encoded back as the response
/// would be.
///
/// # Panics
///
/// When the hot path accepts a body the general decoder refuses, or reads other tensors from it:
/// the two must agree (the hot path only saves time).
pub fn seed_json(data: &[u8]) {
    let body = serde_json::from_slice::<serde_json::Value>(data).ok();
    for sig in signatures() {
        let fast = codec::fast::seed_decode(data, sig);
        let general = body.as_ref().map(|body| codec::seed::decode(body, sig));
        if let Some(fast) = &fast {
            match &general {
                Some(Ok(general)) => {
                    assert_eq!(fast, general, "hot path and general decoder differ")
                }
                _ => panic!("the hot path accepts a body the general decoder refuses"),
            }
        }
        if let Some(Ok(inputs)) = general {
            let _ = codec::seed::encode(&inputs, &echo(sig));
        }
    }
}

/// An Open Inference Protocol JSON body (`POST /v2/models/{name}/infer` without
/// `Inference-Header-Content-Length`): decoded against each test signature, then encoded back.
pub fn oip_json(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    oip(data, body, None);
}

/// An Open Inference Protocol body with the binary tensor extension: a JSON header, then the
/// raw little-endian tensor bytes. The header's length (`Inference-Header-Content-Length`) is
/// where the first JSON value ends, as a client computes it.
pub fn oip_binary(data: &[u8]) {
    let mut values = serde_json::Deserializer::from_slice(data).into_iter::<serde_json::Value>();
    let Some(Ok(body)) = values.next() else {
        return;
    };
    let at = values.byte_offset();
    oip(&data[..at], body, Some(&data[at..]));
}

/// Decodes `json` (parsed: `body`) both ways for every signature: the hot path, when it takes
/// the body, must agree with the general decoder, and its result must encode.
fn oip(json: &[u8], body: serde_json::Value, binary: Option<&[u8]>) {
    for sig in signatures() {
        let general = codec::oip::decode(body.clone(), sig, binary);
        if let Some(fast) = codec::oip::decode_json(json, sig, binary) {
            let same = match (&fast, &general) {
                (Ok(a), Ok(b)) => {
                    (&a.id, &a.outputs, &a.binary_outputs, a.all_binary)
                        == (&b.id, &b.outputs, &b.binary_outputs, b.all_binary)
                        && same_bits(&a.inputs, &b.inputs)
                }
                (Err(a), Err(b)) => a == b,
                _ => false,
            };
            assert!(same, "the OIP hot path and the general decoder disagree");
        }
        if let Ok(decoded) = general {
            let echo = echo(sig);
            let _ = codec::oip::encode("fuzz", "1", &decoded, &decoded.inputs, &echo);
        }
    }
    let _ = codec::oip::metadata("fuzz", &["1".into()], &signatures()[1]);
}

/// TLS material as `[tls]` names it: the first line is the cname (a host name or IP literal),
/// the rest one PEM file that serves as both `cert_pem` (its certificates) and `key_pem` (its
/// private key), checked as at start and reload.
pub fn tls_pem(data: &[u8]) {
    static PROVIDER: OnceLock<rustls::crypto::CryptoProvider> = OnceLock::new();
    let provider = PROVIDER.get_or_init(rustls::crypto::ring::default_provider);
    let (first, pem) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let cname = String::from_utf8_lossy(first);
    let file = Path::new("fuzz.pem");
    let _ = material::from_pem(file, pem, file, pem, &cname, provider);
}

/// Whether two tensor lists hold the same shapes, dtypes and element bits (a NaN read by both
/// decoders is the same input, though `NaN != NaN`).
fn same_bits(a: &[edgeserve_accel::Tensor], b: &[edgeserve_accel::Tensor]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.shape() == b.shape()
                && a.dtype() == b.dtype()
                && a.data().to_le_bytes() == b.data().to_le_bytes()
        })
}

/// A config file (`/etc/edgeserve/edgeserve.toml`): read and validated as at start, with the
/// process's `EDGESERVE_*__*` overrides (none in the fuzz runs).
pub fn config_toml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = config::load_from_str(text, "fuzz.toml");
    }
}

/// The test JWKS: one RSA (`rsa-1`, RS256) and one P-256 (`ec-1`, ES256) public key, whose
/// private halves signed the committed seeds of the `jwt` target and were then thrown away.
const JWKS: &str = r#"{"keys":[{"kty":"RSA","kid":"rsa-1","use":"sig","alg":"RS256","n":"wRhcZ9G8JpI2C1yr-WpVj5kS7ucVu6JaOyU5UTBecpCfqaFB1BfCVtfwbpnuddkQVBVubx9f9r8shkyKUWK25A4B4LEQh8-IIBYjRjtTmCisu6Rur_JywhOH1dGz3VpEHsO6RNn0vCQ2Z_s5dv_N5WidW-ciFYYG7CaVU4G9JoxWVQzWENBcaN3kmEIFTxjoQkZgpi8iGce-HiUt9ClWquOAF8Rrpsz3-04-jrrrWJyMXcdcIqJk8HBwYnr24wYwc9uVIi8l-7nSwviZ0OFh1kXIs26rnAX2-FAGnP4KmNbSzEQ8GsjwjSTgWojz0HS2AG-a3o8qo82P84e-SrAVXQ","e":"AQAB"},{"kty":"EC","kid":"ec-1","use":"sig","alg":"ES256","crv":"P-256","x":"7Uza09qEMW8bziTvNAmuyTaE1H-Qu95l6AKthEQLD_o","y":"jeBesikowJZ6wOFJ_sJa2vHcnz1VP68EtzTmXve7Z4Q"}]}"#;

/// `[oidc]` of the fuzz runs: the issuer and audience the seed tokens carry.
fn oidc_settings() -> OidcSection {
    OidcSection {
        issuer: "https://idp.example".into(),
        audience: "edgeserve".into(),
        jwks_file: "fuzz-jwks.json".into(),
        ..OidcSection::default()
    }
}

/// The token-mode secret the `token-hs256` seed is signed with (32 bytes).
pub const TOKEN_SECRET: &[u8] = b"edgeserve-fuzz-token-secret-32b!";

/// A bearer token (`Authorization: Bearer ...`), checked by the OIDC verifier of the test JWKS
/// and by the token-mode verifier of endpoint `fuzz`, as the data plane does.
pub fn jwt(data: &[u8]) {
    static VERIFIERS: OnceLock<(Option<OidcVerifier>, TokenVerifier)> = OnceLock::new();
    let (oidc, token) = VERIFIERS.get_or_init(|| {
        (
            OidcVerifier::from_jwks(&oidc_settings(), JWKS).ok(),
            TokenVerifier::new("fuzz", TOKEN_SECRET),
        )
    });
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(oidc) = oidc {
        let _ = oidc.verify(text);
    }
    let _ = token.verify(text);
}

/// A JSON Web Key Set file (`oidc.jwks_file`): loaded as at start and reload, then, when it
/// yields a verifier, asked to verify a token signed by each key of the test JWKS.
pub fn jwks(data: &[u8]) {
    // The `oidc-rs256` and `oidc-es256` seeds of the `jwt` target (valid until 2100).
    const RS256: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYS0xIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwiYXVkIjoiZWRnZXNlcnZlIiwic3ViIjoiYWxpY2UiLCJleHAiOjQxMDI0NDQ4MDAsIm5iZiI6MCwiaWF0IjoxNzAwMDAwMDAwfQ.SA2rp-BZaW8MkrS0rUWwqVYORyz2r6863iknOYk0k450nmH8KhLuOaoF8jTKS5r6v4mLFO-jITHQqP-MsGVeAsUExiIK2596IHeZp8OyQn-8ORiP7PQQiaq8k0HNSZM2QBJ0_iizcuOX-vQBA3JNB1YlLaXj6iHM-Z7FFwDLC5bkKQ9cVQdT7ml5uhMMCY29iBXHnsZwlw_1QSI2EkatH7soLtt2OseVxxQskrJdg05I-dCNhonYqjNkojLXLvyaXz8IW9R0ywtbgDTAEHtTk_1MtQ5LwL6RYEDyRPG8h5cE_LzSEzcAw9NMQDnCXFq9yfNW9AwWY9xJAT9Atn5pSg";
    const ES256: &str = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImVjLTEifQ.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwiYXVkIjoiZWRnZXNlcnZlIiwic3ViIjoiYWxpY2UiLCJleHAiOjQxMDI0NDQ4MDAsIm5iZiI6MCwiaWF0IjoxNzAwMDAwMDAwfQ.N2GA0UarlhpC8lFNPQzi6pWmk9R8WPj0RNk9e-QNyMq1ThV-S9WSmX9QtzeDb9ecRrV1W3-jMdulGtIGNy5RuQ";
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(verifier) = OidcVerifier::from_jwks(&oidc_settings(), text) {
        for token in [RS256, ES256] {
            let _ = verifier.verify(token);
        }
    }
}
