//! The modules of `src/` in layers (docs/ARCHITECTURE.md, "Layers"): a top-level module may
//! import (`crate::x`) only the modules listed before it in [`LAYERS`]. A circle between
//! modules, or an import that runs upward, fails here with the file and the line.

use std::collections::BTreeMap;
use std::path::Path;

/// Bottom to top. Each line is a layer; a module may use the ones above it in this list
/// (lower layers) and, within its own line, the ones before it.
const LAYERS: &[&[&str]] = &[
    // Foundations: no domain knowledge.
    &[
        "error",
        "config",
        "schema",
        "db",
        "domain",
        "http",
        "metrics",
        "telemetry",
    ],
    // The job queue and the payloads as plain data, so any capability can enqueue in its
    // own transaction.
    &["jobs"],
    // Who is calling, and what every capability below money needs.
    &["auth", "audit", "idempotency", "customers", "providers"],
    // Money, then bookings (which pay and refund through billing; billing reaches a
    // booking only through the `BookingHooks` bookings gives it).
    &["billing", "bookings"],
    // Medical-travel packages: an appointment and a stay held, paid and ended together
    // through bookings and billing.
    &["packages"],
    // Renders and sends; reads bookings and billing, which never call it (they enqueue).
    &["notify"],
    // What runs the rest: the job worker with the registry of job kinds, operators'
    // endpoints, the web front end.
    &["worker", "ops", "web"],
    // Assembly.
    &["state", "startup"],
];

/// Names `crate::` can reach that are not modules (macros exported at the crate root).
const NOT_MODULES: &[&str] = &["text_enum"];

fn rank() -> BTreeMap<&'static str, usize> {
    LAYERS
        .iter()
        .flat_map(|layer| layer.iter())
        .copied()
        .enumerate()
        .map(|(i, m)| (m, i))
        .collect()
}

/// Every `crate::x` a file names outside its tests and comments, with its line number.
fn imports(text: &str) -> Vec<(usize, String)> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = Vec::new();
    let mut in_group = false;
    for (n, line) in code.lines().enumerate() {
        let line = line.split("//").next().unwrap_or_default();
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                // `use crate::{a, b::c};`, possibly over several lines.
                in_group = !group.contains('}');
                found.extend(group_names(group).map(|m| (n + 1, m)));
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                found.push((n + 1, name));
            }
            rest = after;
        }
        if in_group && !line.contains("crate::{") {
            found.extend(group_names(line).map(|m| (n + 1, m)));
            in_group = !line.contains('}');
        }
    }
    found
}

/// The first path segment of each item in a `{…}` group line.
fn group_names(line: &str) -> impl Iterator<Item = String> + '_ {
    line.split(',').filter_map(|item| {
        let name: String = item
            .trim()
            .trim_start_matches('{')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        (!name.is_empty() && name.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .then_some(name)
    })
}

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let src = crate::helpers::manifest_dir().join("src");
    let rank = rank();
    let mut files = Vec::new();
    visit(&src, &mut files);
    let mut modules_seen = Vec::new();
    let mut upward = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs").to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(&own) = rank.get(top.as_str()) else {
            panic!("src/{top} is in no layer: add it to LAYERS and docs/ARCHITECTURE.md");
        };
        modules_seen.push(top.clone());
        for (line, name) in imports(&std::fs::read_to_string(file).unwrap()) {
            if name == top
                || name == "self"
                || name == "super"
                || NOT_MODULES.contains(&name.as_str())
            {
                continue;
            }
            match rank.get(name.as_str()) {
                Some(&other) if other < own => {}
                Some(_) => upward.push(format!(
                    "src/{}:{line}: {top} -> {name}",
                    relative.display()
                )),
                None => upward.push(format!(
                    "src/{}:{line}: {name} is in no layer",
                    relative.display()
                )),
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that run upward or sideways:\n{}",
        upward.join("\n")
    );
    for module in rank.keys() {
        assert!(
            modules_seen.iter().any(|m| m == module),
            "LAYERS names {module}, which src/ no longer has"
        );
    }
}

#[test]
fn the_import_reader_sees_groups_and_paths() {
    let text = "use crate::db::PgPool;\nuse crate::{auth, billing::money};\nuse crate::{\n    jobs::Job,\n    schema,\n};\n// crate::notify in a comment\nfn f() { crate::metrics::METRICS.x(); }\n#[cfg(test)]\nuse crate::startup;\n";
    let names: Vec<String> = imports(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(
        names,
        ["db", "auth", "billing", "jobs", "schema", "metrics"]
    );
}

/// docs/ARCHITECTURE.md §3: the lifecycle is the only writer of `bookings.status`. The store's
/// conditional UPDATE is called from `bookings/lifecycle.rs` alone, and no other file sets
/// the column.
#[test]
fn only_the_lifecycle_changes_a_booking_status() {
    let src = crate::helpers::manifest_dir().join("src");
    let mut files = Vec::new();
    visit(&src, &mut files);
    let mut writers = Vec::new();
    for file in &files {
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            let calls_store = line.contains("store::transition(");
            let sets_status = line.contains("bookings::status.eq(") && !line.contains("filter");
            if (calls_store && relative != "bookings/lifecycle.rs")
                || (sets_status && relative != "bookings/store.rs")
            {
                writers.push(format!("src/{relative}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        writers.is_empty(),
        "bookings.status written outside the lifecycle:\n{}",
        writers.join("\n")
    );
}
