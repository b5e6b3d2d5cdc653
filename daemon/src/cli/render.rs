//! `-o table`: JSON answers as text for people. Arrays of objects become aligned columns;
//! nested values are summarised in their cell (`blue=90, green=10`, names of listed objects),
//! never raw JSON; long cells are cut to fit a terminal; a single object (`endpoint show`,
//! `status`) prints its fields as `key: value` lines, then one table per list of objects.

use serde_json::{Map, Value};

/// The widest a cell may be, in characters; longer ones end in `…`.
const MAX_CELL: usize = 48;

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => Some(String::new()),
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        _ => None,
    }
}

/// One object of a list in a cell: its name (or target), marked `✗` when `supported` is
/// false; a small object of plain values (a row of ZipMap probabilities) as `k=v` pairs.
fn item_label(o: &Map<String, Value>) -> String {
    let label = ["name", "target", "id"].iter().find_map(|k| o.get(*k).and_then(scalar));
    match label {
        Some(l) if o.get("supported") == Some(&Value::Bool(false)) => format!("{l}✗"),
        Some(l) => l,
        None if o.len() <= 6 && o.values().all(|v| scalar(v).is_some()) => {
            let pairs: Vec<String> =
                o.iter().map(|(k, v)| format!("{k}={}", scalar(v).unwrap_or_default())).collect();
            format!("({})", pairs.join(" "))
        }
        None => format!("{} fields", o.len()),
    }
}

/// A value summarised for one cell: scalars as they are, lists joined, objects as `k=v`.
fn summary(v: &Value) -> String {
    if let Some(s) = scalar(v) {
        return s;
    }
    match v {
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|item| match item {
                    Value::Object(o) => item_label(o),
                    other => summary(other),
                })
                .collect();
            parts.join(", ")
        }
        Value::Object(o) => {
            let parts: Vec<String> = o
                .iter()
                .map(|(k, v)| match scalar(v) {
                    Some(s) => format!("{k}={s}"),
                    None => format!("{k}=({})", summary(v)),
                })
                .collect();
            parts.join(", ")
        }
        _ => String::new(),
    }
}

fn cut(s: String) -> String {
    cut_to(s, MAX_CELL)
}

/// `s` on one line, at most `max` characters (the last one `…` when cut).
fn cut_to(s: String, max: usize) -> String {
    let s = if s.contains('\n') { s.replace('\n', " ") } else { s };
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Aligned columns for a list of objects, one header row.
fn rows_table(rows: &[&Map<String, Value>]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    // Every key any row has (rows may carry optional fields), in first-seen order.
    let mut columns: Vec<&String> = Vec::new();
    for key in rows.iter().flat_map(|r| r.keys()) {
        if !columns.contains(&key) {
            columns.push(key);
        }
    }
    // The name first, as people look things up by it.
    if let Some(i) = columns.iter().position(|c| c.as_str() == "name") {
        let name = columns.remove(i);
        columns.insert(0, name);
    }
    let grid: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|c| cut(summary(r.get(*c).unwrap_or(&Value::Null)))).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| grid.iter().map(|r| r[i].chars().count()).chain([c.len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<String>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(columns.iter().map(|c| c.to_uppercase()).collect());
    for row in grid {
        out.push_str(&line(row));
    }
    out
}

fn objects(v: &Value) -> Option<Vec<&Map<String, Value>>> {
    let items = v.as_array()?;
    (!items.is_empty() && items.iter().all(Value::is_object))
        .then(|| items.iter().filter_map(Value::as_object).collect())
}

/// Renders an answer for people (see the module doc).
pub fn table(value: &Value) -> String {
    match value {
        Value::Array(_) => objects(value).map(|rows| rows_table(&rows)).unwrap_or_else(|| {
            let s = summary(value);
            if s.is_empty() {
                String::new()
            } else {
                format!("{s}\n")
            }
        }),
        Value::Object(obj) => {
            let lists: Vec<(&String, Vec<&Map<String, Value>>)> =
                obj.iter().filter_map(|(k, v)| objects(v).map(|rows| (k, rows))).collect();
            // Fields as `key: value` lines; an object field one line per member (`listeners.tls:`).
            let mut fields: Vec<(String, String)> = Vec::new();
            for (k, v) in obj.iter().filter(|(_, v)| objects(v).is_none()) {
                match v {
                    Value::Object(members) if !members.is_empty() => {
                        for (m, mv) in members {
                            fields.push((format!("{k}.{m}"), summary(mv)));
                        }
                    }
                    _ => fields.push((k.clone(), summary(v))),
                }
            }
            let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            let mut out = String::new();
            for (k, v) in fields {
                let value = cut_to(v, 100);
                out.push_str(&format!("{:<width$}  {value}\n", format!("{k}:"), width = width + 1));
            }
            for (k, rows) in lists {
                out.push_str(&format!("\n{}\n", k.to_uppercase()));
                out.push_str(&rows_table(&rows));
                // Lists inside each row (the deployments of each endpoint) get a table of
                // their own, each row naming its parent.
                let nested: Vec<&String> = rows
                    .iter()
                    .flat_map(|r| r.iter().filter(|(_, v)| objects(v).is_some()).map(|(f, _)| f))
                    .fold(Vec::new(), |mut seen, f| {
                        if !seen.contains(&f) {
                            seen.push(f);
                        }
                        seen
                    });
                for field in nested {
                    let parent_key = k.trim_end_matches('s').to_string();
                    let mut sub: Vec<Map<String, Value>> = Vec::new();
                    for r in &rows {
                        let parent = r.get("name").cloned().unwrap_or(Value::Null);
                        for child in r.get(field.as_str()).and_then(objects).unwrap_or_default() {
                            let mut row = Map::new();
                            row.insert(parent_key.clone(), parent.clone());
                            row.extend(child.iter().map(|(a, b)| (a.clone(), b.clone())));
                            sub.push(row);
                        }
                    }
                    let refs: Vec<&Map<String, Value>> = sub.iter().collect();
                    out.push_str(&format!("\n{}\n", field.to_uppercase()));
                    out.push_str(&rows_table(&refs));
                }
            }
            out
        }
        other => format!("{}\n", summary(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arrays_become_aligned_rows() {
        let t = table(&json!([{"name": "a", "n": 1}, {"name": "long", "n": 22}]));
        assert_eq!(t, "NAME  N\na     1\nlong  22\n");
    }

    #[test]
    fn optional_fields_of_later_rows_get_columns() {
        let t = table(&json!([{"name": "cpu"}, {"name": "gpu", "platform": "PoCL"}]));
        assert_eq!(t, "NAME  PLATFORM\ncpu\ngpu   PoCL\n");
    }

    #[test]
    fn nested_values_are_summarised_not_dumped() {
        let t = table(&json!([{
            "name": "defects",
            "traffic": {"blue": 90, "green": 10},
            "sans": ["a.test", "b.test"],
            "signature": {"inputs": [{"name": "x", "shape": [-1, 4]}]},
        }]));
        assert!(!t.contains('{') && !t.contains('['), "{t}");
        assert!(t.contains("blue=90, green=10") && t.contains("a.test, b.test"), "{t}");
        assert!(t.contains("inputs=(x)"), "{t}");
    }

    #[test]
    fn a_status_object_prints_fields_then_tables() {
        let t = table(&json!({
            "version": "0.1.0",
            "listeners": {"tls": ["127.0.0.1:8443"], "metrics": "http://127.0.0.1:9464/metrics"},
            "endpoints": [{"name": "iris", "deployments": [{"name": "blue", "state": "Succeeded"}]}],
        }));
        assert!(t.contains("version:") && t.contains("ENDPOINTS\nNAME"), "{t}");
        assert!(t.contains("iris  blue"), "{t}");
        assert!(t.contains("listeners.metrics:  http://127.0.0.1:9464/metrics"), "{t}");
        assert!(t.contains("DEPLOYMENTS\nNAME  ENDPOINT  STATE\nblue  iris      Succeeded"), "{t}");
        assert!(!t.contains('{'), "{t}");
    }

    #[test]
    fn long_cells_are_cut() {
        let t = table(&json!([{"id": "x".repeat(200)}]));
        assert!(t.lines().all(|l| l.chars().count() <= MAX_CELL + 2), "{t}");
        assert!(t.contains('…'));
    }
}
