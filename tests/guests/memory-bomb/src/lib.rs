//! Test guest: a scenario that allocates without bound in `next-request`. The host
//! must stop it at its memory limit and exit with a clear error.

use volley_sdk::{Load, Next, Params, Plan, RequestContext, Scenario, Stage, export_scenario};

struct MemoryBomb {
    hoard: Vec<Vec<u8>>,
}

impl Scenario for MemoryBomb {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("hostile test guest: allocates without bound in next-request")
    }
    fn configure(_params: &Params) -> Result<Self, String> {
        Ok(MemoryBomb { hoard: Vec::new() })
    }
    fn plan(&self) -> Plan {
        Plan::new().stage(Stage::new("bomb", Load::constant(10.0)).max_requests(10))
    }
    fn next_request(&mut self, _ctx: &RequestContext) -> Next {
        loop {
            let mut block = vec![0u8; 1 << 20];
            block[0] = 1; // touch it
            self.hoard.push(std::hint::black_box(block));
        }
    }
}

export_scenario!(MemoryBomb);
