//! Every earlier schema's fixture store (`migrations/fixtures/schema-N.redb.gz`,
//! written by `examples/schema_fixture.rs` when that schema was current) is
//! opened with today's code: the real migrations run on it, and everything its
//! `schema-N.json` export lists must still be there, unchanged.

use std::io::Read;
use std::path::{Path, PathBuf};

use tonnytray::store::{Query, Store, Utterance};

fn fixtures() -> Vec<(u64, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/fixtures");
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations/fixtures")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_prefix("schema-")?.strip_suffix(".redb.gz")?;
            Some((n.parse().ok()?, e.path()))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn there_is_a_fixture_for_every_schema_version() {
    let versions: Vec<u64> = fixtures().into_iter().map(|(v, _)| v).collect();
    let expected: Vec<u64> = (1..=tonnytray_migrations::CURRENT).collect();
    assert_eq!(
        versions, expected,
        "run `cargo run -p tonnytray --example schema_fixture` before adding a schema step"
    );
}

#[test]
fn every_fixture_opens_migrated_with_its_data_intact() {
    for (version, gz) in fixtures() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("fixture.redb");
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&gz).expect("fixture"))
            .read_to_end(&mut bytes)
            .expect("gunzip");
        std::fs::write(&path, bytes).expect("write");
        let store = Store::open(&path)
            .unwrap_or_else(|e| panic!("schema {version} fixture does not open: {e}"));
        assert_eq!(
            store.schema_version().expect("version"),
            tonnytray_migrations::CURRENT
        );
        let json: serde_json::Value = serde_json::from_slice(
            &std::fs::read(gz.with_file_name(format!("schema-{version}.json"))).expect("json"),
        )
        .expect("export JSON");
        let expected: Vec<Utterance> =
            serde_json::from_value(json["utterances"].clone()).expect("utterances");
        assert!(!expected.is_empty());
        let mut got = store.search(&Query::default()).expect("search");
        got.reverse();
        assert_eq!(got, expected, "schema {version}: utterances changed");
        assert_eq!(
            store.settings().expect("settings"),
            json["settings"].as_str().map(str::to_owned)
        );
        let stats = store.stats(0).expect("stats");
        let counted: u64 = stats.iter().map(|(_, _, s)| s.count).sum();
        assert_eq!(
            counted,
            expected.len() as u64,
            "schema {version}: statistics"
        );
    }
}
