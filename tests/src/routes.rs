//! The routes the daemon serves, read from its router sources, for tests that compare them with
//! the README and the OpenAPI document.

use std::path::PathBuf;

/// `{name}`, `{n}`, `{endpoint}`… all become `{}`.
pub fn without_parameter_names(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_braces = false;
    for c in text.chars() {
        match c {
            '{' => {
                in_braces = true;
                out.push_str("{}");
            }
            '}' if in_braces => in_braces = false,
            _ if in_braces => {}
            _ => out.push(c),
        }
    }
    out
}

/// Every `METHOD /path` an axum router in `file` (under `daemon/src`) declares with
/// `.route(...)`.
pub fn routes_in(file: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../daemon/src").join(file);
    let source = std::fs::read_to_string(path).unwrap();
    let mut routes = Vec::new();
    for (at, _) in source.match_indices(".route(") {
        let rest = &source[at + ".route(".len()..];
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .unwrap();
        let call = &rest[..end];
        let route = call.split('"').nth(1).unwrap();
        for method in ["get", "post", "put", "patch", "delete"] {
            let used = call
                .match_indices(&format!("{method}("))
                .any(|(i, _)| !call[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
            if used {
                routes.push(format!("{} {route}", method.to_uppercase()));
            }
        }
    }
    assert!(!routes.is_empty(), "no routes found in {file}");
    routes
}
