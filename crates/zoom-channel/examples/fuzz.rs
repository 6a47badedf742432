//! The long fuzz run over frames, events and render lines:
//!
//! ```sh
//! cargo run --release -p zoom-channel --example fuzz -- --iterations 1000000 [--seed N]
//! ```
//!
//! Prints a one-line report, or the first failing input (also written to
//! `fuzz-failure.json` in the current directory) and exits 1.

#[path = "../tests/support/fuzz.rs"]
mod fuzz;

fn main() {
    let mut iterations = 1_000_000u64;
    let mut seed = 1u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (arg.as_str(), value) {
            ("--iterations", Some(v)) => iterations = v,
            ("--seed", Some(v)) => seed = v,
            _ => {
                eprintln!("usage: fuzz [--iterations N] [--seed N]");
                std::process::exit(2);
            }
        }
    }
    match fuzz::run(iterations, seed) {
        Ok(r) => println!(
            "fuzz: {} cases (seed {seed}) in {:.1} s: {} events parsed, {} rejected as malformed, {} messages rendered; no property broken",
            r.iterations,
            r.elapsed.as_secs_f64(),
            r.events,
            r.rejected,
            r.messages
        ),
        Err(f) => {
            eprintln!("fuzz: case {} broke a property: {}", f.iteration, f.problem);
            eprintln!("input: {}", f.input);
            if let Err(e) = std::fs::write("fuzz-failure.json", &f.input) {
                eprintln!("could not write fuzz-failure.json: {e}");
            }
            std::process::exit(1);
        }
    }
}
