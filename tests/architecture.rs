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
    // IRC, as a client speaks it, and what it means in the chat's language: pure.
    &["irc"],
    // The seam where the threads beside the hub hand it their news and answers.
    &["news"],
    // What one connection does, both models; the cluster's link and the store, sources of
    // hub events.
    &["connection", "cluster", "store", "hashing"],
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

/// The files of one folder that each file of it uses (`super::NAME`, in code, not comments),
/// where NAME is a sibling file or folder; `mod.rs`, the folder's own, is left out.
fn sibling_uses(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name != "mod" && (path.is_dir() || path.extension().is_some_and(|e| e == "rs")) {
            files.push((name, path));
        }
    }
    let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let mut uses = BTreeMap::new();
    for (name, path) in files.iter().filter(|(_, p)| p.is_file()) {
        let text = std::fs::read_to_string(path).unwrap();
        let mut used = Vec::new();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or_default();
            for (i, _) in code.match_indices("super::") {
                let rest = &code[i + 7..];
                let idents: Vec<&str> = match rest.strip_prefix('{') {
                    Some(list) => list.split('}').next().unwrap_or("").split(',').collect(),
                    None => vec![rest],
                };
                for ident in idents {
                    let ident: String = ident
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if &ident != name && names.contains(&ident) && !used.contains(&ident) {
                        used.push(ident);
                    }
                }
            }
        }
        uses.insert(name.clone(), used);
    }
    uses
}

/// Within each folder too, files use each other one way: a reader can take them in an order
/// where each uses only those read before it.
#[test]
fn the_files_of_each_folder_use_each_other_one_way() {
    let mut folders = vec![Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")).to_path_buf()];
    let mut checked = 0;
    let mut cycles = Vec::new();
    while let Some(dir) = folders.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            }
        }
        let uses = sibling_uses(&dir);
        checked += uses.len();
        // Take away, again and again, the files that use none of those left: what is never
        // taken is on a cycle.
        let mut left = uses.clone();
        loop {
            let free: Vec<String> = left
                .iter()
                .filter(|(_, used)| used.iter().all(|u| !left.contains_key(u)))
                .map(|(n, _)| n.clone())
                .collect();
            if free.is_empty() {
                break;
            }
            for n in free {
                left.remove(&n);
            }
        }
        if !left.is_empty() {
            cycles.push(format!("{}: {left:?}", dir.display()));
        }
    }
    assert!(checked > 20, "only {checked} files seen");
    assert!(
        cycles.is_empty(),
        "files that use each other in a circle:\n{}",
        cycles.join("\n")
    );
}
