//! Traffic splits: whole percentages over an endpoint's deployments.

use std::collections::BTreeMap;

/// Checks a split: known deployments only, whole numbers summing to 100 (or empty).
pub fn validate(traffic: &BTreeMap<String, u32>, deployments: &[&str]) -> Result<(), String> {
    if let Some(unknown) = traffic.keys().find(|k| !deployments.contains(&k.as_str())) {
        return Err(format!(
            "traffic names deployment {unknown}, which the endpoint does not have"
        ));
    }
    if let Some((name, pct)) = traffic.iter().find(|(_, &p)| p > 100) {
        return Err(format!("traffic for {name} is {pct}%, over 100"));
    }
    let sum: u32 = traffic.values().sum();
    if !traffic.is_empty() && sum != 100 {
        return Err(format!("traffic percentages sum to {sum}, they must sum to 100"));
    }
    Ok(())
}

/// Picks a deployment for a roll in `0..100`.
pub fn pick(traffic: &BTreeMap<String, u32>, roll: u32) -> Option<&str> {
    let mut acc = 0;
    for (name, &pct) in traffic {
        acc += pct;
        if roll < acc {
            return Some(name);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn validation() {
        assert!(validate(&split(&[("blue", 100)]), &["blue"]).is_ok());
        assert!(validate(&split(&[]), &["blue"]).is_ok());
        assert!(validate(&split(&[("blue", 90), ("green", 10)]), &["blue", "green"]).is_ok());
        let err = validate(&split(&[("blue", 90)]), &["blue"]).unwrap_err();
        assert_eq!(err, "traffic percentages sum to 90, they must sum to 100");
        let err = validate(&split(&[("red", 100)]), &["blue"]).unwrap_err();
        assert!(err.contains("deployment red"), "{err}");
    }

    #[test]
    fn pick_follows_the_split() {
        let t = split(&[("blue", 90), ("green", 10)]);
        assert_eq!(pick(&t, 0), Some("blue"));
        assert_eq!(pick(&t, 89), Some("blue"));
        assert_eq!(pick(&t, 90), Some("green"));
        assert_eq!(pick(&t, 99), Some("green"));
        assert_eq!(pick(&split(&[("blue", 0)]), 0), None);
    }
}
