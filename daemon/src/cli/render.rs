//! `-o table`: JSON answers as aligned text columns, for people.

use serde_json::Value;

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Renders an array of objects (or one object) as a table with a header row.
pub fn table(value: &Value) -> String {
    let rows: Vec<&serde_json::Map<String, Value>> = match value {
        Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
        Value::Object(obj) => vec![obj],
        other => return format!("{}\n", cell(other)),
    };
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
    let grid: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|c| cell(r.get(*c).unwrap_or(&Value::Null))).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| grid.iter().map(|r| r[i].len()).chain([c.len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<String>| -> String {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(columns.iter().map(|c| c.to_uppercase()).collect());
    for row in grid {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arrays_become_aligned_rows() {
        let t = table(&json!([{"name": "a", "n": 1}, {"name": "long", "n": 22}]));
        assert_eq!(t, "N   NAME\n1   a\n22  long\n");
    }

    #[test]
    fn optional_fields_of_later_rows_get_columns() {
        let t = table(&json!([{"name": "cpu"}, {"name": "gpu", "platform": "PoCL"}]));
        assert_eq!(t, "NAME  PLATFORM\ncpu\ngpu   PoCL\n");
    }
}
