//! A sample of the mutation fuzzer in every `cargo test`. The long run is
//! `cargo run --release -p zoom-channel --example fuzz -- --iterations 1000000`
//! (see `docs/testing.md`); `FUZZ_ITERATIONS` / `FUZZ_SEED` enlarge or vary
//! this sample.

#[path = "support/fuzz.rs"]
mod fuzz;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn frames_events_and_render_lines_hold_their_properties() {
    let iterations = env_u64("FUZZ_ITERATIONS", 2_000);
    let seed = env_u64("FUZZ_SEED", 1);
    match fuzz::run(iterations, seed) {
        Ok(report) => {
            assert_eq!(report.iterations, iterations);
            // The generator reaches the renderer, not only the parser.
            assert!(report.events > iterations / 2, "{report:?}");
            assert!(report.messages > iterations / 2, "{report:?}");
            assert!(report.rejected > 0, "{report:?}");
        }
        Err(failure) => panic!(
            "case {} broke a property: {}\ninput: {}",
            failure.iteration, failure.problem, failure.input
        ),
    }
}

#[test]
fn the_generator_covers_every_fixture_event() {
    let cases = fuzz::sample_cases(2_000, 7);
    let names = fuzz::name_histogram(&cases);
    for name in [
        "meeting.created",
        "meeting.ended",
        "recording.completed",
        "team_chat.dm_message_posted",
        "bot_notification",
        "chat_message.sent",
    ] {
        assert!(
            names.contains_key(name),
            "{name} never generated: {names:?}"
        );
    }
}
