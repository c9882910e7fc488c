//! Checks an operator's `--params` against a package's declared parameters before the
//! scenario sees them: unknown names and wrong JSON types are one-line errors that name
//! the package. (The scenario still validates values itself.)

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde_json::Value;

use super::manifest::Param;

pub fn check(package: &str, declared: &BTreeMap<String, Param>, params: &Value) -> Result<()> {
    let Some(obj) = params.as_object() else { bail!("--params must be a JSON object") };
    for (key, value) in obj {
        let Some(p) = declared.get(key) else {
            let known: Vec<&str> = declared.keys().map(String::as_str).collect();
            bail!("package '{package}' has no parameter `{key}` (it declares: {})", list(&known));
        };
        if !value.is_null() && !is_type(value, &p.kind) {
            bail!("parameter `{key}` of package '{package}' must be {} {}, got {value}", article(&p.kind), p.kind);
        }
    }
    Ok(())
}

pub fn is_type(v: &Value, kind: &str) -> bool {
    match kind {
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}

fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

fn list(items: &[&str]) -> String {
    if items.is_empty() { "none".into() } else { items.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn declared() -> BTreeMap<String, Param> {
        let p = |k: &str| Param { kind: k.into(), default: None, description: String::new() };
        BTreeMap::from([("rate".to_string(), p("number")), ("max_requests".to_string(), p("integer"))])
    }

    #[test]
    fn accepts_declared_types_and_null() {
        check("x", &declared(), &json!({"rate": 2.5, "max_requests": 3})).unwrap();
        check("x", &declared(), &json!({"rate": null})).unwrap();
    }

    #[test]
    fn refuses_unknown_names_and_wrong_types() {
        let e = check("x", &declared(), &json!({"ratee": 1})).unwrap_err().to_string();
        assert!(e.contains("no parameter `ratee`") && e.contains("max_requests, rate"), "{e}");
        let e = check("x", &declared(), &json!({"max_requests": 1.5})).unwrap_err().to_string();
        assert!(e.contains("must be an integer, got 1.5"), "{e}");
        let e = check("x", &declared(), &json!({"rate": "fast"})).unwrap_err().to_string();
        assert!(e.contains("must be a number"), "{e}");
    }
}
