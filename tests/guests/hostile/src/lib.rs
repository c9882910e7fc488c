//! Test guest: a scenario that attacks the host in the way its `mode` parameter names,
//! for the hostile test suite (tests/e2e/hostile.rs). Every attack is something a
//! shared scenario package could do with the WIT alone.
//!
//! Parameters: `mode` (below), `n` (a count), `bytes` (a size), `value` (a string: a
//! path, a header name, a name), `rate`, `cv`, `duration_s`.
//!
//! Modes: `stages` (a plan of `n` stages), `burst` (a burst of `n`), `concurrency`
//! (`n` workers), `rate` (a constant `rate`), `gamma` (a gamma load of coefficient of
//! variation `cv`), `body` (requests with a `bytes`-byte prompt, one at a time), `tag`
//! (a unique `bytes`-byte tag per request), `tokenizer` (hands the tokenizer `bytes`
//! bytes), `sleep` (sleeps in `next-request` until a day has passed, in steps),
//! `sleep-forever` (sleeps in `next-request`, an hour at a time, forever), `nap`
//! (sleeps an hour once, then sends), `slow-outcome` (spends ~50 ms in each
//! `on-outcome`), `slow-producer` (spends ~25 ms per request), `custom-forever` (a
//! custom load without end), `wait-forever` (a stage without end in which it sends `n`
//! requests, then answers "nothing yet" for ever), `tiny-rate` (a constant 1e-300/s), `stderr-utf8`
//! (fills stderr, cut inside a character, then panics), `stderr-flood` (writes 1 MiB
//! to stderr, then sends), `escapes` (names and tags with terminal escapes), `names` (a
//! stage named `value` and `n` requests tagged `value`), `formula`
//! (spreadsheet formulas as tags), `path` (a plain-HTTP path `value`), `kserve-model`
//! (a KServe model `value`), `kserve-version` (a KServe version `value`), `header` (a
//! header named `value`), `tensor` (a tensor whose shape overflows), `clock` (the wall
//! and monotonic time it reads, in its prompt), `socket` (connects to `value`, a
//! `host:port`, itself, past the host, and sends what it can).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use volley_sdk::{
    Load, Message, Next, Outcome, Params, Plan, Request, RequestContext, Scenario, Stage, Tensor, export_scenario, tokenizer,
};

struct Hostile {
    mode: String,
    n: u32,
    bytes: usize,
    value: String,
    rate: f64,
    cv: f64,
    duration: Duration,
}

const ESC: &str = "\u{1b}]0;owned\u{7}\r\u{1b}[2KALL CHECKS PASSED\u{1b}[0m";

fn chat(text: String) -> Request {
    Request::chat(vec![Message::user(text)]).max_tokens(2)
}

fn spin(d: Duration) {
    // Busy work, not a sleep: the guest's clock is virtual, its CPU time is not.
    let t = Instant::now();
    let mut x = 0u64;
    while t.elapsed() < d {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

impl Scenario for Hostile {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!(format!("hostile test guest {ESC}"))
    }

    fn configure(params: &Params) -> Result<Self, String> {
        let h = Hostile {
            mode: params.string("mode", "rate")?,
            n: params.u32("n", 10)?,
            bytes: params.u64("bytes", 1024)? as usize,
            value: params.string("value", "")?,
            rate: params.f64("rate", 10.0)?,
            cv: params.f64("cv", 1.0)?,
            duration: Duration::from_secs_f64(params.f64("duration_s", 2.0)?),
        };
        if h.mode == "stderr-utf8" {
            // 16 KiB and a bit, ending inside the three bytes of '€'.
            let mut junk = "a".repeat((16 << 10) - 1).into_bytes();
            junk.extend_from_slice(&"€".as_bytes()[..2]);
            use std::io::Write;
            let _ = std::io::stderr().write_all(&junk);
        }
        Ok(h)
    }

    fn plan(&self) -> Plan {
        let timed = |name: &str, load: Load| Stage::new(name, load).duration(self.duration);
        match self.mode.as_str() {
            "stages" => (0..self.n).fold(Plan::new(), |p, i| p.stage(timed(&format!("s{i}"), Load::burst(1)))),
            "burst" => Plan::new().stage(Stage::new("burst", Load::burst(self.n))),
            "concurrency" => Plan::new().stage(timed("closed", Load::concurrency(self.n))),
            "gamma" => Plan::new().stage(timed("gamma", Load::gamma(self.rate, self.cv))),
            "body" | "tag" | "formula" => Plan::new().stage(timed("one-at-a-time", Load::concurrency(1))),
            "slow-outcome" => Plan::new().observe_outcomes(true).stage(timed("outcomes", Load::constant(self.rate))),
            "custom-forever" => Plan::new().stage(Stage::new("forever", Load::custom())),
            "wait-forever" => Plan::new().observe_outcomes(true).stage(Stage::new("waits", Load::custom())),
            "tiny-rate" => Plan::new().stage(timed("tiny", Load::constant(1e-300))),
            "escapes" => Plan::new().stage(timed(&format!("stage{ESC}"), Load::constant(self.rate)).max_requests(3)),
            "names" => Plan::new().stage(timed(&self.value, Load::constant(self.rate)).max_requests(u64::from(self.n))),
            _ => Plan::new().stage(timed("main", Load::constant(self.rate)).max_requests(u64::from(self.n))),
        }
    }

    fn next_request(&mut self, ctx: &RequestContext) -> Next {
        let seq = ctx.seq;
        if self.mode == "wait-forever" && seq >= u64::from(self.n) {
            return Next::Wait;
        }
        let r = match self.mode.as_str() {
            "body" => chat("x".repeat(self.bytes)),
            "tag" => chat("hi".into()).tag(format!("{seq:08}{}", "t".repeat(self.bytes))),
            "formula" => chat("hi".into()).tag(["=HYPERLINK(\"http://evil\")", "+1", "-1", "@SUM(A1)"][seq as usize % 4]),
            "escapes" => chat("hi".into()).tag(format!("tag{ESC}")),
            "names" => chat("hi".into()).tag(self.value.clone()),
            "tokenizer" => chat(format!("{}", tokenizer::count(&"word ".repeat(self.bytes / 5)))),
            "sleep" => {
                // A day of virtual time, in one-second sleeps: each returns at once.
                for _ in 0..86_400 {
                    std::thread::sleep(Duration::from_secs(1));
                }
                chat("slept".into())
            }
            "sleep-forever" => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
            "nap" => {
                std::thread::sleep(Duration::from_secs(3600));
                chat("napped".into())
            }
            "slow-producer" => {
                spin(Duration::from_millis(25));
                chat("slow".into())
            }
            "custom-forever" => chat("again".into()).gap(Duration::from_millis(10)),
            "stderr-utf8" => panic!("hostile: stderr was cut inside a character"),
            "stderr-flood" => {
                if seq == 0 {
                    eprint!("{}", "flood ".repeat((1 << 20) / 6));
                }
                chat("flooded".into())
            }
            "path" => Request::http("GET", self.value.clone()),
            "kserve-model" => Request::kserve_v2(self.value.clone(), vec![Tensor::numbers("x", "FP32", vec![1], vec![1.0])]),
            "kserve-version" => {
                Request::kserve_v2("m", vec![Tensor::numbers("x", "FP32", vec![1], vec![1.0])]).model_version(self.value.clone())
            }
            "header" => chat("hi".into()).header(self.value.clone(), "hostile"),
            "tensor" => Request::kserve_v2("m", vec![Tensor::numbers("x", "FP32", vec![1 << 40, 1 << 40, 1 << 40], vec![1.0])]),
            "clock" => {
                let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
                chat(format!("wall {wall} monotonic-start {:?}", Instant::now().elapsed()))
            }
            "socket" => {
                use std::io::Write;
                let sent =
                    std::net::TcpStream::connect(self.value.as_str()).and_then(|mut s| s.write_all(b"GET /exfiltrate HTTP/1.1\r\n\r\n"));
                chat(format!("socket: {sent:?}"))
            }
            _ => chat("hi".into()),
        };
        Next::Send(r)
    }

    fn on_outcome(&mut self, _outcome: Outcome) {
        if self.mode == "slow-outcome" {
            spin(Duration::from_millis(50));
        }
    }
}

export_scenario!(Hostile);
