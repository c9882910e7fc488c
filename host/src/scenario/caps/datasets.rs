//! Capability `volley:scenario/datasets`: read access to the datasets the operator
//! granted by name. A handle is the only way to a dataset; a scenario never sees a path.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::{HasData, Resource, ResourceTable};

use crate::dataset::Dataset;
use crate::scenario::v0_2::bindings::volley::scenario::datasets as v0_2;
use crate::scenario::v0_3::bindings::volley::scenario::datasets as v0_3;
use crate::scenario::v0_4::bindings::volley::scenario::datasets as v0_4;

/// Open handles a scenario may hold at once.
const MAX_HANDLES: usize = 1024;

/// The host side of a `dataset` resource.
pub struct DatasetHandle(Arc<Dataset>);

pub struct DatasetsCap {
    granted: HashMap<String, Arc<Dataset>>,
    table: ResourceTable,
    open_handles: usize,
}

impl HasData for DatasetsCap {
    type Data<'a> = &'a mut DatasetsCap;
}

impl DatasetsCap {
    pub fn new(granted: &[Arc<Dataset>]) -> Self {
        DatasetsCap {
            granted: granted.iter().map(|d| (d.name.clone(), d.clone())).collect(),
            table: ResourceTable::new(),
            open_handles: 0,
        }
    }

    fn dataset(&self, handle: &Resource<DatasetHandle>) -> wasmtime::Result<&Arc<Dataset>> {
        Ok(&self.table.get(handle)?.0)
    }
}

/// The `datasets` host traits of 0.2 and later.
macro_rules! datasets_host {
    ($v:ident, $message:ident) => {
        impl $v::Host for DatasetsCap {}

        impl $v::HostDataset for DatasetsCap {
            fn open(&mut self, name: String) -> wasmtime::Result<Result<Resource<DatasetHandle>, String>> {
                let Some(dataset) = self.granted.get(&name).cloned() else {
                    let mut names: Vec<&str> = self.granted.keys().map(String::as_str).collect();
                    names.sort_unstable();
                    let granted = if names.is_empty() { "none".to_string() } else { names.join(", ") };
                    return Ok(Err(format!(
                        "no dataset '{name}' was granted (granted: {granted}; the operator grants one with --dataset {name}=PATH)"
                    )));
                };
                if self.open_handles >= MAX_HANDLES {
                    wasmtime::bail!("it holds more than {MAX_HANDLES} dataset handles");
                }
                self.open_handles += 1;
                Ok(Ok(self.table.push(DatasetHandle(dataset))?))
            }

            fn len(&mut self, handle: Resource<DatasetHandle>) -> wasmtime::Result<u64> {
                Ok(self.dataset(&handle)?.len())
            }

            fn row(&mut self, handle: Resource<DatasetHandle>, index: u64) -> wasmtime::Result<Option<$v::Row>> {
                let row = self.dataset(&handle)?.row(index).map_err(|e| wasmtime::format_err!("{e:#}"))?;
                Ok(row.map(|r| $v::Row {
                    messages: r.messages.into_iter().map(|m| $message { role: m.role, content: m.content }).collect(),
                    raw: r.raw,
                }))
            }

            fn drop(&mut self, handle: Resource<DatasetHandle>) -> wasmtime::Result<()> {
                self.table.delete(handle)?;
                self.open_handles = self.open_handles.saturating_sub(1);
                Ok(())
            }
        }
    };
}

type MessageV0_2 = crate::scenario::v0_2::bindings::volley::scenario::types::Message;
type MessageV0_3 = crate::scenario::v0_3::bindings::volley::scenario::types::Message;

datasets_host!(v0_2, MessageV0_2);
datasets_host!(v0_3, MessageV0_3);
type MessageV0_4 = crate::scenario::v0_4::bindings::volley::scenario::types::Message;
datasets_host!(v0_4, MessageV0_4);
