//! openapi.yaml and the router must list exactly the same (method, path) pairs.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{manifest_dir, spawn_app};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn spec() -> Value {
    let text = std::fs::read_to_string(manifest_dir().join("openapi.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).expect("openapi.yaml is valid YAML")
}

fn documented_operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

#[test]
fn every_registered_route_is_documented_and_every_documented_route_is_registered() {
    let registered: BTreeSet<(String, String)> = wasit::startup::route_table()
        .endpoints()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_owned()))
        .collect();
    let documented = documented_operations(&spec());
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unregistered: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.yaml: {undocumented:?}"
    );
    assert!(
        unregistered.is_empty(),
        "openapi.yaml lists routes the server lacks: {unregistered:?}"
    );
}

/// The router mounts fixed paths before patterns (`http::route_table`): that changes no
/// answer only while no fixed path is also matched by a pattern, except the ones listed here
/// on purpose, where the fixed path is meant to win (a waitlist entry's id is a UUID, never
/// `me` or `units`).
const FIXED_OVER_PATTERN: [(&str, &str); 2] = [
    ("/v1/waitlist/me", "/v1/waitlist/{entry}"),
    ("/v1/waitlist/units", "/v1/waitlist/{entry}"),
];

#[test]
fn no_fixed_path_is_also_matched_by_a_pattern() {
    let paths: BTreeSet<&str> = wasit::startup::route_table()
        .endpoints()
        .into_iter()
        .map(|(_, path)| path)
        .collect();
    let matches = |pattern: &str, path: &str| {
        let (pattern, path): (Vec<&str>, Vec<&str>) =
            (pattern.split('/').collect(), path.split('/').collect());
        pattern.len() == path.len()
            && pattern
                .iter()
                .zip(&path)
                .all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()))
    };
    let fixed = paths.iter().filter(|path| !path.contains('{'));
    let clashes: Vec<(&str, &str)> = fixed
        .flat_map(|path| {
            paths
                .iter()
                .filter(|pattern| pattern.contains('{') && matches(pattern, path))
                .map(move |pattern| (*path, *pattern))
        })
        .filter(|clash| !FIXED_OVER_PATTERN.contains(clash))
        .collect();
    assert!(
        clashes.is_empty(),
        "fixed paths a pattern also matches: {clashes:?}"
    );
    assert!(matches("/v1/bookings/{booking}", "/v1/bookings/x"));
}

#[test]
fn the_spec_is_openapi_3_1_and_every_operation_documents_its_errors() {
    let spec = spec();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(spec["components"]["schemas"]["Problem"].is_object());
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let id = format!("{method} {path}");
            assert!(operation["operationId"].is_string(), "{id}: operationId");
            let responses = operation["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{id}: responses"));
            assert!(
                // A redirect is the success of a browser form (the sandbox's 3-D Secure page).
                responses
                    .keys()
                    .any(|code| code.starts_with('2') || code.starts_with('3')),
                "{id}: no success response"
            );
            let takes_body = operation.get("requestBody").is_some();
            if takes_body {
                for code in ["400", "413", "415", "422"] {
                    assert!(
                        responses.contains_key(code),
                        "{id}: takes a body but omits {code}"
                    );
                }
            }
            let secured = operation
                .get("security")
                .is_none_or(|s| s.as_array().is_some_and(|a| !a.is_empty()))
                && spec.get("security").is_some();
            if secured {
                assert!(responses.contains_key("401"), "{id}: secured but omits 401");
            }
            // A control character in a path parameter is a 400 `path.invalid` (http/path.rs).
            if path.contains('{') {
                assert!(
                    responses.contains_key("400"),
                    "{id}: has a path parameter but omits 400"
                );
            }
        }
    }
}

/// The job kinds the admin job list may show are exactly the worker's.
#[test]
fn the_spec_lists_every_job_kind() {
    let spec = spec();
    let listed: BTreeSet<String> = spec["components"]["schemas"]["JobRecord"]["properties"]["kind"]
        ["enum"]
        .as_array()
        .expect("JobRecord.kind is an enum")
        .iter()
        .map(|kind| kind.as_str().unwrap().to_owned())
        .collect();
    let known: BTreeSet<String> = wasit::jobs::Job::KINDS
        .iter()
        .map(|kind| kind.to_string())
        .collect();
    assert_eq!(listed, known);
}

#[tokio::test]
async fn the_served_spec_is_the_file() {
    let app = spawn_app().await;
    let response = app.get("/openapi.yaml").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/yaml")
    );
    let served = response.text().await.unwrap();
    let file = std::fs::read_to_string(manifest_dir().join("openapi.yaml")).unwrap();
    assert_eq!(served, file);
}
