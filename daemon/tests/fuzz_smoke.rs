//! Smoke run of the daemon's fuzz targets (`fuzz/`) on stable: the same entry points
//! (`edgeserve_daemon::fuzz`), fed the committed seeds of `fuzz/seeds/<target>/` and a few
//! thousand deterministic mutations of them (bit flips, truncations, splices, tokens of the
//! input's grammar inserted). Each must return, never panic. Coverage-guided runs:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run <target>` (see `fuzz/Cargo.toml`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use edgeserve_daemon::fuzz;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens of JSON bodies and shapes: edge numbers, nesting, types the decoders must refuse.
const JSON_TOKENS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "null",
    "true",
    "-1",
    "0",
    "1e400",
    "-1e400",
    "1e-400",
    "4294967296",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "65505",
    "2147483648",
    "256",
    "0.5",
    "\"\"",
    "\"x\"",
    "[[]]",
    "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]",
    "\"shape\": [18446744073709551615, 2]",
    "\"binary_data_size\": 4294967295",
    "\"datatype\": \"BYTES\"",
    "\"datatype\": \"FP16\"",
    "\"data\": [true]",
    "\"parameters\": {\"binary_data\": true}",
];

/// Tokens of TOML config files: sections, table arrays, edge values.
const TOML_TOKENS: &[&str] = &[
    "\n[daemon]\n",
    "\n[[model]]\n",
    "\n[[endpoint]]\n",
    "\n[[deployment]]\n",
    "\n[limits]\n",
    "= -1",
    "= 0",
    "= 18446744073709551615",
    "= 1e400",
    "= \"\"",
    "= []",
    "= {}",
    "= [\"::\"]",
    "= \"0.0.0.0:0\"",
    "= \"[::1]:99999\"",
    "= \"300.1.1.1/40\"",
    "= true",
    "\"\"\"",
    "'''",
    "= 1979-05-27T07:32:00Z",
    "traffic = { a = 101 }",
    "instance_count = 0",
];

/// Tokens of PEM files and JWTs: armour lines, base64 and base64url edge characters.
const TEXT_TOKENS: &[&str] = &[
    "-----BEGIN CERTIFICATE-----\n",
    "-----END CERTIFICATE-----\n",
    "-----BEGIN PRIVATE KEY-----\n",
    "-----END PRIVATE KEY-----\n",
    "-----BEGIN EC PRIVATE KEY-----\n",
    "-----BEGIN RSA PRIVATE KEY-----\n",
    "=",
    "==",
    "\n",
    ".",
    "..",
    "-",
    "_",
    "+",
    "/",
    "eyJhbGciOiJub25lIn0",
    "eyJ9",
    "AAAA",
    "MIIB",
    "*.",
    "[::1]",
];

fn tokens(target: &str) -> &'static [&'static str] {
    match target {
        "config_toml" => TOML_TOKENS,
        "tls_pem" | "jwt" => TEXT_TOKENS,
        _ => JSON_TOKENS,
    }
}

fn mutate(rng: &mut Rng, seed: &[u8], tokens: &[&str]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        if v.is_empty() {
            v.extend_from_slice(tokens[rng.below(tokens.len())].as_bytes());
            continue;
        }
        match rng.below(6) {
            0 => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.truncate(rng.below(v.len())),
            2 => {
                let at = rng.below(v.len() + 1);
                let token = tokens[rng.below(tokens.len())].as_bytes();
                v.splice(at..at, token.iter().copied());
            }
            3 => {
                // A token replaces a run of bytes: a number, a value, a line.
                let a = rng.below(v.len());
                let b = (a + 1 + rng.below(12)).min(v.len());
                let token = tokens[rng.below(tokens.len())].as_bytes();
                v.splice(a..b, token.iter().copied());
            }
            4 => {
                let (a, b) = (rng.below(v.len()), rng.below(v.len()));
                let chunk: Vec<u8> = v[a.min(b)..a.max(b)].to_vec();
                let at = rng.below(v.len());
                v.splice(at..at, chunk);
            }
            _ => {
                let i = rng.below(v.len());
                v[i] = [0, 0x7f, 0x80, 0xff, b'"', b'\\', b'\n'][rng.below(7)];
            }
        }
    }
    v
}

/// The committed seeds of one target: every file of `fuzz/seeds/<target>/`.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!seeds.is_empty(), "{} holds no seed", dir.display());
    seeds
}

/// Runs `entry` over the seeds, then over `mutations` mutations of them.
fn smoke(target: &str, seed_number: u64, mutations: usize, entry: fn(&[u8])) {
    let mut corpus = seeds(target);
    corpus.push(Vec::new());
    let run = |input: &[u8]| {
        if std::panic::catch_unwind(|| entry(input)).is_err() {
            panic!("{target} panicked on {:?}", String::from_utf8_lossy(input));
        }
    };
    for seed in &corpus {
        run(seed);
    }
    let mut rng = Rng(0x5eed_0000 + seed_number);
    let tokens = tokens(target);
    for i in 0..mutations {
        run(&mutate(&mut rng, &corpus[i % corpus.len()], tokens));
    }
}

#[test]
fn seed_json_survives_mutations() {
    smoke("seed_json", 1, 5_000, fuzz::seed_json);
}

#[test]
fn oip_json_survives_mutations() {
    smoke("oip_json", 2, 5_000, fuzz::oip_json);
}

#[test]
fn oip_binary_survives_mutations() {
    smoke("oip_binary", 3, 5_000, fuzz::oip_binary);
}

#[test]
fn tls_pem_survives_mutations() {
    smoke("tls_pem", 4, 2_000, fuzz::tls_pem);
}

#[test]
fn config_toml_survives_mutations() {
    smoke("config_toml", 5, 2_000, fuzz::config_toml);
}

#[test]
fn jwt_survives_mutations() {
    smoke("jwt", 6, 5_000, fuzz::jwt);
}

#[test]
fn jwks_survives_mutations() {
    smoke("jwks", 7, 3_000, fuzz::jwks);
}

/// The seeds reach past the parsers: a valid token verifies, a valid PEM pair loads, a valid
/// config loads. Without this a seed gone stale would leave the mutations testing only refusals.
#[test]
fn seeds_are_accepted_where_they_should_be() {
    use edgeserve_daemon::auth::token::TokenVerifier;
    let token = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/jwt/token-hs256"),
    )
    .unwrap();
    TokenVerifier::new("fuzz", fuzz::TOKEN_SECRET).verify(token.trim()).unwrap();
    let pem = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/tls_pem/ec-self-signed.pem"),
    )
    .unwrap();
    let body = &pem[pem.iter().position(|&b| b == b'\n').unwrap() + 1..];
    let file = std::path::Path::new("seed.pem");
    edgeserve_daemon::listen::material::from_pem(
        file,
        body,
        file,
        body,
        "localhost",
        &rustls::crypto::ring::default_provider(),
    )
    .unwrap();
    for seed in ["packaging.toml", "reference.toml", "declarative.toml"] {
        let text = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/config_toml").join(seed),
        )
        .unwrap();
        edgeserve_daemon::config::load_from_str(&text, seed)
            .unwrap_or_else(|e| panic!("{seed}: {e}"));
    }
}
