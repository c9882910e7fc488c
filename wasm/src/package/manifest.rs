//! The package manifest (`volley-package.json` inside a package) and the authored project
//! file it is made from (`volley.json`, written by `volley new`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The manifest format this Volley writes and reads.
pub const SCHEMA: &str = "volley.package/v1";
/// The component's name inside a package (the only one a manifest may name).
pub const COMPONENT_FILE: &str = "scenario.wasm";

/// A scenario parameter as its author declares it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// JSON type: number, integer, string, boolean, array or object.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A dataset the scenario opens (granted by the operator with `--dataset NAME=PATH`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetNeed {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The scenario cannot run without it.
    #[serde(default)]
    pub required: bool,
}

/// `volley.json`: what the author writes beside the scenario's source.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, Param>,
    #[serde(default)]
    pub datasets: BTreeMap<String, DatasetNeed>,
}

/// The component a package carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ComponentInfo {
    /// The file inside the package.
    pub file: String,
    /// `sha256:<hex>` of the component bytes; verified on every load.
    pub sha256: String,
    pub size: u64,
}

/// `volley-package.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: String,
    pub name: String,
    pub version: String,
    pub description: String,
    /// The `volley:scenario` version the component was built against, e.g. "0.3.0".
    pub wit: String,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, Param>,
    /// JSON Schema (draft 2020-12) of the parameters object, derived from `params`.
    pub params_schema: Value,
    #[serde(default)]
    pub datasets: BTreeMap<String, DatasetNeed>,
    pub component: ComponentInfo,
    /// The tool that made the package.
    pub created_by: String,
}

pub const PARAM_TYPES: &[&str] = &["number", "integer", "string", "boolean", "array", "object"];

/// The JSON Schema of a parameters object: declared keys with their types and defaults,
/// nothing else.
pub fn params_schema(params: &BTreeMap<String, Param>) -> Value {
    let properties: serde_json::Map<String, Value> = params
        .iter()
        .map(|(name, p)| {
            let mut prop = json!({ "type": p.kind });
            if let Some(d) = &p.default {
                prop["default"] = d.clone();
            }
            if !p.description.is_empty() {
                prop["description"] = json!(p.description);
            }
            (name.clone(), prop)
        })
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    })
}

/// A package name: lowercase letters, digits, `-` and `_`, starting with a letter, at
/// most 64 bytes (it names files and results directories).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A version: letters, digits, `.`, `-` and `+`, starting with a letter or digit, at
/// most 64 bytes.
pub fn valid_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 64
        && version.starts_with(|c: char| c.is_ascii_alphanumeric())
        && version.chars().all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))
}

impl Manifest {
    /// What every read of a manifest checks: names that are safe in file names and on
    /// a terminal, the one component file a package holds, bounded texts.
    pub fn check(&self) -> Result<(), String> {
        let shown = |s: &str| volley_core::text::printable(s, 64);
        if !valid_name(&self.name) {
            return Err(format!("name {:?} must be lowercase letters, digits, '-' and '_' (at most 64)", shown(&self.name)));
        }
        if !valid_version(&self.version) {
            return Err(format!("version {:?} must be letters, digits, '.', '-' and '+' (at most 64)", shown(&self.version)));
        }
        if self.component.file != COMPONENT_FILE {
            return Err(format!("it names component {:?}; a package's component is scenario.wasm", shown(&self.component.file)));
        }
        if self.description.len() > 4096 || self.wit.len() > 32 || self.params.len() > 256 || self.datasets.len() > 64 {
            return Err("its description, WIT version, parameters or datasets are too long".into());
        }
        Ok(())
    }
}
