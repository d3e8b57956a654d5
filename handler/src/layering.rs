//! The house's layering, checked: every module imports only modules of a
//! lower layer (so there are no import cycles and nothing imports upward
//! from `domain`), and development tooling (`devtools`) is imported only by
//! the CLI commands that exist for it.
//!
//! The check reads the source files: each `crate::<module>` path outside
//! comments and outside test code counts as an import.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Layers, lowest first. A module may import from strictly lower layers.
const LAYERS: &[&[&str]] = &[
    &["domain"],
    &["events", "settings"],
    &["telemetry", "protocol", "store"],
    &["secrets"],
    &["graph"],
    &["engine", "tenants", "report"],
    &["app", "doctor"],
    &["orchestration", "devtools"],
    &["cli"],
];

/// The only production files allowed to import `devtools`.
const DEVTOOLS_USERS: &[&str] = &["cli/demo.rs", "cli/sim.rs", "cli/bench.rs", "cli/mod.rs"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The `crate::<name>` module names a source text uses outside comments
/// and before its first `#[cfg(test)]`.
fn imports(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        let code = t.split(" //").next().unwrap_or(t);
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
            rest = after;
        }
        // `use crate::{a, b}` groups.
        if let Some(i) = code.find("crate::{") {
            let group = &code[i + "crate::{".len()..];
            for part in group.split([',', '}']) {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        }
    }
    found
}

/// Every upward or sideways import and every devtools import outside the
/// allowed files, as readable lines.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut bad = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(src)
            .unwrap_or(&f)
            .to_string_lossy()
            .replace('\\', "/");
        if rel.starts_with("bin/") || rel.ends_with("_tests.rs") || rel == "lib.rs" {
            continue;
        }
        if rel == "layering.rs" {
            continue;
        }
        let module = rel
            .split('/')
            .next()
            .unwrap_or("")
            .trim_end_matches(".rs")
            .to_string();
        let Some(own) = layer_of(&module) else {
            bad.push(format!("{rel}: module {module:?} is in no layer"));
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&f) else {
            bad.push(format!("{rel}: unreadable"));
            continue;
        };
        for used in imports(&text) {
            if used == module {
                continue;
            }
            if used == "devtools" && module != "devtools" && !DEVTOOLS_USERS.contains(&rel.as_str())
            {
                bad.push(format!("{rel}: production code imports devtools"));
                continue;
            }
            match layer_of(&used) {
                Some(l) if l < own => {}
                Some(_) => bad.push(format!(
                    "{rel}: {module} imports {used}, which is not in a lower layer"
                )),
                None => {}
            }
        }
    }
    bad
}

#[test]
fn modules_import_only_lower_layers_and_devtools_stays_fenced() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("handler/src");
    let bad = violations(&src);
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
    // Every module directory is placed in a layer.
    let mut seen = BTreeMap::new();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for f in files {
        if let Ok(rel) = f.strip_prefix(&src) {
            if let Some(first) = rel.iter().next() {
                let m = first.to_string_lossy().trim_end_matches(".rs").to_string();
                seen.insert(m, ());
            }
        }
    }
    for m in seen.keys() {
        if !["bin", "lib", "layering"].contains(&m.as_str()) {
            assert!(layer_of(m).is_some(), "module {m} is in no layer");
        }
    }
}

/// The check itself finds an upward import, a sideways one, and devtools
/// used from production code (so a passing run means something).
#[test]
fn the_check_catches_violations() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("domain")).unwrap();
    std::fs::create_dir_all(src.join("engine")).unwrap();
    std::fs::write(src.join("domain/mod.rs"), "use crate::settings::X;\n").unwrap();
    std::fs::write(
        src.join("engine/mod.rs"),
        "// use crate::app::App; (a comment is no import)\nuse crate::{report, devtools::sim::Sim};\n#[cfg(test)]\nmod t { use crate::cli; }\n",
    )
    .unwrap();
    let bad = violations(src);
    assert!(
        bad.iter().any(|b| b.contains("domain imports settings")),
        "{bad:?}"
    );
    assert!(
        bad.iter().any(|b| b.contains("engine imports report")),
        "{bad:?}"
    );
    assert!(
        bad.iter().any(|b| b.contains("imports devtools")),
        "{bad:?}"
    );
    assert!(
        !bad.iter().any(|b| b.contains("app") || b.contains("cli")),
        "{bad:?}"
    );
}
