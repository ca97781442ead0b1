//! The shape of `src/`, checked: each top-level module sits in a layer, and imports only from
//! layers below its own, so the module graph has no cycle and nothing low reaches up. Read from
//! the source text (comments aside), so a new import that breaks the layering fails here.

use std::collections::BTreeMap;
use std::path::Path;

/// Lowest first. A module may use the modules of the layers before its own.
const LAYERS: &[&[&str]] = &[
    // Pure protocol: the clients' lines and commands, flood control, the web's HTTP.
    &["framing", "command", "rate", "metrics", "cidr"],
    // The web port's HTTP (it serves the metrics).
    &["http"],
    // Plumbing: no chat, no connections.
    &["memory", "shutdown", "net", "tls"],
    // What nodes say to each other: the hub's language, like `command` is the clients'.
    &["node_wire"],
    // The chat rules, sans-IO.
    &["hub"],
    // What one connection does, both models; the cluster's link, a source of hub events.
    &["connection", "cluster"],
    &["config"],
    // The drivers and the programs.
    &["poll_server", "thread_server", "client", "bench"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// `crate::NAME` references in the code (not the comments) of every file under `dir`, by the
/// top-level module the file belongs to.
fn references(dir: &Path, top: Option<&str>, out: &mut BTreeMap<(String, String), String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let module = top.map_or(name.clone(), str::to_string);
        if path.is_dir() {
            if top.is_none() && name == "bin" {
                continue; // the binaries sit above everything
            }
            references(&path, Some(&module), out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || (top.is_none() && name == "lib") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for (i, _) in code.match_indices("crate::") {
                let used: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if used != module {
                    let at = format!("{}:{}", path.display(), n + 1);
                    out.entry((module.clone(), used)).or_insert(at);
                }
            }
        }
    }
}

#[test]
fn every_module_imports_only_from_layers_below_it() {
    let mut refs = BTreeMap::new();
    references(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        None,
        &mut refs,
    );
    assert!(
        !refs.is_empty(),
        "found no imports at all: is this the right folder?"
    );
    let mut wrong = Vec::new();
    for ((from, to), at) in &refs {
        match (layer_of(from), layer_of(to)) {
            (Some(a), Some(b)) if b < a => {}
            (None, _) => wrong.push(format!("{from} is in no layer (add it to LAYERS)")),
            (_, None) => wrong.push(format!("{to} is in no layer (add it to LAYERS)")),
            _ => wrong.push(format!("{from} uses {to}, not below it ({at})")),
        }
    }
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "the layering is broken:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_top_level_module_is_in_a_layer() {
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert!(modules.len() > 5, "{modules:?}");
    for m in modules {
        assert!(
            layer_of(m).is_some(),
            "src/lib.rs has {m}, which is in no layer"
        );
    }
}
