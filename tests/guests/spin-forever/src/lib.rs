//! Test guest: a scenario whose `next-request` never returns. The host must stop it
//! with its per-call time limit and exit with a clear error.

use volley_sdk::{Load, Next, Params, Plan, RequestContext, Scenario, Stage, export_scenario};

struct SpinForever;

impl Scenario for SpinForever {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("hostile test guest: loops forever in next-request")
    }
    fn configure(_params: &Params) -> Result<Self, String> {
        Ok(SpinForever)
    }
    fn plan(&self) -> Plan {
        Plan::new().stage(Stage::new("spin", Load::constant(10.0)).max_requests(10))
    }
    fn next_request(&mut self, ctx: &RequestContext) -> Next {
        let mut x = ctx.seq;
        loop {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

export_scenario!(SpinForever);
