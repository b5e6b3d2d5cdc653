//! Rules for the names of models, versions, endpoints and deployments.

/// Longest name accepted (fits a DNS label, a URL segment and a file name).
const MAX_LEN: usize = 63;

/// Checks a name: 1 to 63 ASCII letters, digits, `-`, `_` or `.`, starting with a letter or digit.
pub fn check(what: &str, name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > MAX_LEN || !first_ok || !name.chars().all(ok_char) {
        return Err(format!(
            "{what} \"{name}\" must be 1 to {MAX_LEN} letters, digits, '-', '_' or '.', \
             starting with a letter or digit"
        ));
    }
    Ok(())
}

/// The candidate closest to a mistyped `name` (edit distance, a swap of neighbours counting
/// once, at most a third of its length,
/// and at least 1), for "did you mean" hints on the control plane.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `" (did you mean X?)"` when a candidate is close to `name`, else nothing.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(name, candidates).map(|c| format!(" (did you mean {c}?)")).unwrap_or_default()
}

/// Splits a `NAME:VERSION` model reference.
pub fn model_ref(reference: &str) -> Result<(&str, &str), String> {
    let (name, version) = reference
        .split_once(':')
        .ok_or_else(|| format!("model \"{reference}\" must be NAME:VERSION"))?;
    check("model name", name)?;
    check("model version", version)?;
    Ok((name, version))
}

#[cfg(test)]
mod closest_tests {
    #[test]
    fn near_misses_are_suggested_and_strangers_are_not() {
        let names = ["defects", "iris", "mlp"];
        assert_eq!(super::closest("defect", names), Some("defects"));
        assert_eq!(super::closest("irsi", names), Some("iris"));
        assert_eq!(super::closest("camera", names), None);
        assert_eq!(super::did_you_mean("mlq", names), " (did you mean mlp?)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check("n", "blue").is_ok());
        assert!(check("n", "model-1.2_x").is_ok());
        assert!(check("n", "").is_err());
        assert!(check("n", "-x").is_err());
        assert!(check("n", "a/b").is_err());
        assert!(check("n", "../etc").is_err());
        assert!(check("n", &"a".repeat(64)).is_err());
    }

    #[test]
    fn model_refs() {
        assert_eq!(model_ref("defects:3"), Ok(("defects", "3")));
        assert!(model_ref("defects").is_err());
        assert!(model_ref("defects:").is_err());
    }
}
