//! Capability `volley:scenario/datasets`: read access to the datasets the operator
//! granted by name. A handle is the only way to a dataset; a scenario never sees a path.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::{HasData, Resource, ResourceTable};

use volley_data::{Dataset, Row};

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
        DatasetsCap { granted: granted.iter().map(|d| (d.name.clone(), d.clone())).collect(), table: ResourceTable::new(), open_handles: 0 }
    }

    fn dataset(&self, handle: &Resource<DatasetHandle>) -> wasmtime::Result<&Arc<Dataset>> {
        Ok(&self.table.get(handle)?.0)
    }

    /// A handle to the granted dataset `name`, or the scenario-facing reason there is none.
    pub fn open(&mut self, name: &str) -> wasmtime::Result<Result<Resource<DatasetHandle>, String>> {
        let Some(dataset) = self.granted.get(name).cloned() else {
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

    pub fn len(&self, handle: &Resource<DatasetHandle>) -> wasmtime::Result<u64> {
        Ok(self.dataset(handle)?.len())
    }

    pub fn row(&self, handle: &Resource<DatasetHandle>, index: u64) -> wasmtime::Result<Option<Row>> {
        self.dataset(handle)?.row(index).map_err(|e| wasmtime::format_err!("{e}"))
    }

    pub fn close(&mut self, handle: Resource<DatasetHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        self.open_handles = self.open_handles.saturating_sub(1);
        Ok(())
    }
}
