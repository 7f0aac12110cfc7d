//! The Tyk API definition import (`crates/tyk/`, crate `gatehouse-tyk`): JSON text, as the admin API
//! receives it, through `parse_json` and the OAS or Classic importer.
//!
//! Input: the definition's text. Besides "no panic", it checks what the crate promises: an
//! imported API is valid (once given an id, which the control plane would assign), and its Tyk
//! OAS and Classic exports import again, without warnings, to the same API, never with weaker
//! authentication (the crate doc promises it).

#![no_main]

use gatehouse_tyk::{Imported, export_classic, export_oas, import_classic, import_oas, parse_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(document) = parse_json(text) else { return };
    // The admin API routes OAS documents and Classic ones to different calls; the fuzzer gets
    // both, so a document shaped for one is also thrown at the other.
    for imported in [import_oas(&document), import_classic(&document)].into_iter().flatten() {
        check(imported);
    }
});

fn check(imported: Imported) {
    let mut api = imported.api;
    if api.api_id.is_empty() {
        api.api_id = "fuzz-assigned-id".to_owned();
    }
    let api = match api.clone().validate() {
        Ok(valid) => valid,
        Err(e) => panic!("an imported API must be valid, got {e} for {api:?}"),
    };
    // Through text, as an admin carries an exported definition to another gateway.
    // Classic names versions by JSON object keys: they come back sorted, without repeats.
    let mut classic_api = api.clone();
    if let Some(v) = &mut classic_api.versioning {
        v.versions.sort();
        v.versions.dedup();
    }
    for (form, exported, import, api) in [
        ("OAS", export_oas(&api).to_string(), import_oas as fn(&_) -> _, &api),
        ("Classic", export_classic(&api).to_string(), import_classic, &classic_api),
    ] {
        match parse_json(&exported).and_then(|doc| import(&doc)) {
            Ok(again) => {
                assert_eq!(again.warnings, Vec::<String>::new(), "the {form} export warns on import: {exported}");
                assert_eq!(again.api.requires_token(), api.requires_token(), "{form} weakened: {exported}");
                assert_eq!(&again.api, api, "{form} export then import changed the API: {exported}");
            }
            Err(e) => panic!("Gatehouse's own {form} export does not import: {e}: {exported}"),
        }
    }
}
