use kafka_eos_model::model::{
    check::render_action,
    model,
    scenario::{KnownBug, Protocol, Scenario},
};
use stateright::Model;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut s = Scenario::named(&args[1]).unwrap();
    if let Some(p) = args.get(3) {
        s = s.with_protocol(p.parse::<Protocol>().unwrap());
    }
    if let Some(b) = args.get(4) {
        s = s.with_bug(KnownBug::from_name(b).unwrap());
    }
    let m = model(&s);
    let mut st = m.init_states().remove(0);
    let mut seed: u64 = args[2].parse().unwrap();
    for step in 0..300 {
        let mut acts = Vec::new();
        m.actions(&st, &mut acts);
        let nexts: Vec<_> = acts
            .into_iter()
            .filter_map(|a| m.next_state(&st, a.clone()).map(|n| (a, n)))
            .collect();
        if nexts.is_empty() {
            println!("terminal at {step}");
            break;
        }
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let i = ((seed >> 33) as usize) % nexts.len();
        let (a, n) = nexts.into_iter().nth(i).unwrap();
        println!("{step}: {}", render_action(&m, &a));
        st = n;
    }
}
