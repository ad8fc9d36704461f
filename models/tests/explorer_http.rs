//! `kafka-eos explore` over HTTP: starts the command on a free loopback port, reads stateright's
//! Explorer API (`/.status`, `/.states/...`) and checks that what a person would see is in the
//! protocol's words: our actors' names, our properties, requests named as Kafka requests, the
//! compact partition log; and that a counterexample path printed by `check` opens.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_eos_model::model::bugs::KnownBug;
use kafka_eos_model::model::check::{run, CheckOptions};
use kafka_eos_model::model::properties::S1;
use kafka_eos_model::model::scenario::Scenario;
use serde_json::Value;

/// The explorer child process; killed when the test ends, pass or fail.
struct Explorer {
    child: Child,
    addr: String,
    first_lines: Vec<String>,
}

impl Drop for Explorer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Starts `kafka-eos explore ARGS --addr 127.0.0.1:PORT` and waits until it answers.
fn start(args: &[&str]) -> Explorer {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-eos"))
        .arg("explore")
        .args(args)
        .args(["--addr", &addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("kafka-eos starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut first_lines = Vec::new();
    let mut line = String::new();
    // The command prints its URL lines, then "(Ctrl-C to stop)", then serves.
    while reader.read_line(&mut line).unwrap_or(0) > 0 {
        let done = line.contains("Ctrl-C");
        first_lines.push(line.trim_end().to_string());
        line.clear();
        if done {
            break;
        }
    }
    let explorer = Explorer {
        child,
        addr,
        first_lines,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&explorer.addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "explorer did not listen on {}",
            explorer.addr
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    explorer
}

/// A GET over plain HTTP/1.1; returns (status code, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (code, body.to_string())
}

fn post(addr: &str, path: &str) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    assert!(
        String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 200"),
        "POST {path}: {}",
        String::from_utf8_lossy(&raw)
    );
}

fn get_json(addr: &str, path: &str) -> Value {
    let (code, body) = get(addr, path);
    assert_eq!(code, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
}

fn steps(v: &Value) -> &Vec<Value> {
    v.as_array().expect("a list of steps")
}

fn field<'a>(step: &'a Value, key: &str) -> &'a str {
    step.get(key).and_then(Value::as_str).unwrap_or("")
}

#[test]
fn status_names_our_properties_and_states_read_like_the_protocol() {
    let ex = start(&["idempotent"]);
    let addr = ex.addr.clone();
    assert!(
        ex.first_lines
            .iter()
            .any(|l| l.contains(&format!("http://{addr}/")) && l.contains("idempotent")),
        "the URL is printed: {:?}",
        ex.first_lines
    );

    let status = get_json(&addr, "/.status");
    assert!(status["model"]
        .as_str()
        .unwrap_or("")
        .contains("ExplorerModel"));
    let names: Vec<&str> = status["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .filter_map(|p| p.get(1).and_then(Value::as_str))
        .collect();
    for want in [
        "S1 no duplicate",
        "S2 no acked loss",
        "S3 sequence contiguity",
        "probe: duplicate retry deduplicated",
    ] {
        assert!(names.contains(&want), "{want:?} missing from {names:?}");
    }

    // The initial state: every actor by name, the first request in flight, no Rust internals.
    let init = get_json(&addr, "/.states");
    let init = &steps(&init)[0];
    let state = field(init, "state");
    for want in [
        "producer-1 (idempotent)",
        "partition-0: HW=0 LSO=0",
        "coordinator: coordinator_epoch=0",
        "producer-1 -> coordinator: InitProducerId#0",
    ] {
        assert!(
            state.contains(want),
            "{want:?} missing from state:\n{state}"
        );
    }
    for internal in ["Id(", "ActorModelState", "Box", "Cow", "actor_states"] {
        assert!(!state.contains(internal), "{internal:?} in state:\n{state}");
    }
    let svg = field(init, "svg");
    assert!(
        svg.contains("producer-1") && svg.contains("partition-0") && svg.contains("coordinator")
    );

    // Walk the happy path: always take the first delivery, until a Produce is delivered.
    let mut path = "0".to_string();
    let mut produce = None;
    for _ in 0..6 {
        let next = get_json(&addr, &format!("/.states/{path}"));
        let next = steps(&next);
        let actions: Vec<&str> = next.iter().map(|s| field(s, "action")).collect();
        for a in &actions {
            assert!(!a.contains("Id(") && !a.contains("Deliver {"), "{a:?}");
        }
        if let Some(s) = next
            .iter()
            .find(|s| field(s, "action").starts_with("producer-1 -> partition-0: Produce#"))
        {
            produce = Some(s.clone());
            break;
        }
        let (i, _) = next
            .iter()
            .enumerate()
            .find(|(_, s)| field(s, "action").contains(" -> ") && s.get("state").is_some())
            .unwrap_or_else(|| panic!("a delivery among {actions:?}"));
        path = format!("{path}/{i}");
    }
    let produce = produce.expect("a Produce is delivered within 6 steps");
    let action = field(&produce, "action");
    assert!(
        action.contains("pid=0 epoch=0 seq=0..0"),
        "Produce carries pid/epoch/sequence: {action}"
    );
    let outcome = field(&produce, "outcome");
    assert!(
        outcome.contains("partition-0:") && outcome.contains("sends to producer-1: Produce#"),
        "the step says what the leader answered:\n{outcome}"
    );
    assert!(
        outcome.contains("@0 pid=0 epoch=0 seq=0 r0"),
        "the step shows the log with offsets:\n{outcome}"
    );
    assert!(field(&produce, "svg").contains("Produce#"));

    // Run to completion: the verdicts appear (a probe's example is a path, S1 has none).
    post(&addr, "/.runtocompletion");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let status = get_json(&addr, "/.status");
        if status["done"] == Value::Bool(true) {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "run to completion ended: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let discovery = |name: &str| {
        status["properties"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p[1] == name))
            .map(|p| p[2].clone())
            .unwrap_or_else(|| panic!("{name} in {status}"))
    };
    assert!(discovery("probe: duplicate retry deduplicated").is_string());
    assert!(discovery("probe: record acknowledged").is_string());
    assert_eq!(discovery("S1 no duplicate"), Value::Null, "{status}");
    assert_eq!(discovery("S2 no acked loss"), Value::Null, "{status}");

    // A bad path is a 404, not a crash.
    let (code, _) = get(&addr, "/.states/0/999");
    assert_eq!(code, 404);
    assert_eq!(get(&addr, "/.status").0, 200, "the server is still up");
}

#[test]
fn counterexample_path_from_check_opens_in_the_explorer() {
    let scenario = Scenario::named("idempotent")
        .expect("scenario")
        .with_bug(KnownBug::from_name("no-sequence-check").expect("bug"));
    let report = run(&scenario, &CheckOptions::default());
    let s1 = report
        .properties
        .iter()
        .find(|p| p.name == S1)
        .expect("S1 is checked");
    let path = s1.encoded.clone().expect("S1 has a counterexample");

    let ex = start(&["idempotent", "--bug", "no-sequence-check", "--path", &path]);
    let url = format!("http://{}/#/steps/{path}", ex.addr);
    assert!(
        ex.first_lines.iter().any(|l| l.contains(&url)),
        "{url} printed: {:?}",
        ex.first_lines
    );

    // The last step of the path: fetch its parent and pick the action index.
    let (parent, last) = path.rsplit_once('/').expect("a path with steps");
    let last: usize = last.parse().expect("an index");
    let siblings = get_json(&ex.addr, &format!("/.states/{parent}"));
    let step = steps(&siblings)
        .iter()
        .find(|s| s["actionIndex"].as_u64() == Some(last as u64))
        .expect("the path's last step");
    let state = field(step, "state");
    let mut records: Vec<&str> = state
        .lines()
        .filter(|l| l.trim_start().starts_with('@') && l.contains(" pid="))
        .filter_map(|l| l.split_whitespace().nth(4))
        .collect();
    let all = records.len();
    records.sort_unstable();
    records.dedup();
    assert!(
        records.len() < all,
        "the duplicate is visible in the log:\n{state}"
    );
    // The page names the scenario, protocol and bug, and the state's violated properties.
    assert!(
        state.contains("scenario idempotent (protocol tv2, bugs: no-sequence-check)"),
        "{state}"
    );
    assert!(
        state.contains("properties here: VIOLATED: S1 no duplicate"),
        "{state}"
    );
    assert!(
        field(step, "outcome")
            .contains("after this step, properties here: VIOLATED: S1 no duplicate"),
        "{}",
        field(step, "outcome")
    );
    // Its successors are served too (the URL works as a starting point).
    let (code, _) = get(&ex.addr, &format!("/.states/{path}"));
    assert_eq!(code, 200);
    // Opened on a path, the property panel judges that path: once the check (started by the
    // command itself) completes, S1 is a counterexample whose discovery is the opened path,
    // not "Safety holds".
    assert!(
        ex.first_lines
            .iter()
            .any(|l| l.contains("it violates S1 no duplicate from step")),
        "{:?}",
        ex.first_lines
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let status = get_json(&ex.addr, "/.status");
        if status["done"] == Value::Bool(true) {
            break status;
        }
        assert!(Instant::now() < deadline, "the check completes: {status}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let s1 = status["properties"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p[1] == format!("{S1} (judged on the opened path)").as_str())
        })
        .unwrap_or_else(|| panic!("S1 in {status}"));
    assert_eq!(s1[2], Value::String(path.clone()), "{status}");
    // A property the path does not break shows no counterexample.
    let s2 = status["properties"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p[1].as_str().unwrap_or("").starts_with("S2 "))
        })
        .expect("S2");
    assert_eq!(s2[2], Value::Null, "{status}");
}

#[test]
fn explore_rejects_a_path_of_another_scenario() {
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-eos"))
        .args(["explore", "idempotent", "--path", "0/99/99", "--addr"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a path"));
}
