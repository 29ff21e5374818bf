//! Writes the fixture store of the current schema version:
//! `migrations/fixtures/schema-N.redb.gz` and, beside it, `schema-N.json` (the
//! export of what it holds). Run once when a schema step is added, BEFORE
//! the step, so the new step is tested on a file of the version it upgrades
//! (`app/tests/integration/schema_fixtures.rs` opens every fixture with the current code).
//!
//! `cargo run -p tonnytray --example schema_fixture`

use std::path::Path;

use tonnytray::store::{Destination, Latencies, Store, Utterance, export};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/fixtures");
    let version = tonnytray_migrations::CURRENT;
    let db = dir.join(format!("schema-{version}.redb"));
    let _ = std::fs::remove_file(&db);
    let store = Store::open(&db).expect("create the fixture");
    let rows = [
        (
            1_764_000_000_000_000,
            "default",
            "Turn on the kitchen lights",
            true,
            Destination::Typed,
        ),
        (
            1_764_000_060_000_000,
            "kids",
            "Play the dinosaur song — s'il vous plaît",
            false,
            Destination::Nowhere {
                why: "typing off".into(),
            },
        ),
        (
            1_764_086_400_000_000,
            "default",
            "Computer, what is the weather tomorrow?",
            false,
            Destination::N8n,
        ),
    ];
    for (id, profile, text, favourite, went) in rows {
        store
            .add_utterance(&Utterance {
                id,
                profile: profile.into(),
                text: text.into(),
                favourite,
                duration_ms: 2_000,
                latency: Latencies {
                    final_text_ms: Some(450),
                    typing_ms: None,
                    command_ms: None,
                    ..Latencies::default()
                },
                went,
            })
            .expect("add");
    }
    store
        .save_settings("[server]\nurl = \"ws://127.0.0.1:8888/asr\"\n")
        .expect("settings");
    store
        .log_activity("fixture", "written by examples/schema_fixture.rs")
        .expect("activity");
    export::export(&store, &dir.join(format!("schema-{version}.json"))).expect("export");
    drop(store);
    // Stored gzipped: the file is mostly empty pages.
    let gz = dir.join(format!("schema-{version}.redb.gz"));
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).expect("create"),
        flate2::Compression::best(),
    );
    std::io::copy(&mut std::fs::File::open(&db).expect("open"), &mut enc).expect("gzip");
    enc.finish().expect("gzip");
    std::fs::remove_file(&db).expect("remove");
    let size = std::fs::metadata(&gz).expect("size").len();
    eprintln!("wrote {} ({size} bytes)", gz.display());
}
