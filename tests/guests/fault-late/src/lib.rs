//! Test guest: a first stage of 5 good requests, then a panic in the second stage's
//! first `next-request`. The host must stop the run with the fault and still report
//! the first stage.

use volley_sdk::{Load, Message, Next, Params, Plan, Request, RequestContext, Scenario, Stage, export_scenario};

struct FaultLate;

impl Scenario for FaultLate {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("hostile test guest: faults in its second stage")
    }
    fn configure(_params: &Params) -> Result<Self, String> {
        Ok(FaultLate)
    }
    fn plan(&self) -> Plan {
        Plan::new().stage(Stage::new("good", Load::burst(5))).stage(Stage::new("bad", Load::constant(10.0)).max_requests(5))
    }
    fn next_request(&mut self, ctx: &RequestContext) -> Next {
        if ctx.stage == 1 {
            panic!("fault-late: stage 1 is broken on purpose");
        }
        Next::Send(Request::chat(vec![Message::user("hi")]).max_tokens(2).stream(true))
    }
}

export_scenario!(FaultLate);
