//! The layout is the architecture: these tests read the imports of every file under `src/` and
//! hold the rules of `docs/flow.md` against them. An arrow is a `crate::`, `super::` or `self::`
//! path naming another file (a `use` or an inline path), or a bare path through a child module
//! the file declares; a `mod` declaration alone is not an arrow, and neither is a child naming
//! its own folder's root file (`super::SpoolError` in `spool/store.rs`).
//!
//! Run alone with `cargo test --test architecture`; on a failure the message lists the files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`config::upstream`) -> file, for every `.rs` file under `src/` that is a module
/// of the library (not `main.rs`, not the `*_tests.rs`/`tests.rs` test modules).
fn modules() -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap().with_extension("");
            let name = rel.to_string_lossy().replace('/', "::");
            if name == "main" || name == "lib" || is_test_module(&name) {
                continue;
            }
            out.insert(name, path);
        }
    }
    out
}

fn is_test_module(name: &str) -> bool {
    let last = name.rsplit("::").next().unwrap();
    last == "tests" || last.ends_with("_tests")
}

/// The code of a file without comments and without its `#[cfg(test)] mod tests { ... }` tail.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The paths a file names, resolved to module names: `crate::a::b::C` is `a::b` when that is a
/// file, else `a`.
fn arrows(module: &str, code: &str, files: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let parent: Vec<&str> = module.split("::").collect();
    let words: Vec<String> = paths_in(code);
    for w in words {
        let segs: Vec<&str> = w.split("::").collect();
        let absolute: Vec<String> = match segs[0] {
            "crate" => segs[1..].iter().map(|s| s.to_string()).collect(),
            "super" => {
                let up = segs.iter().take_while(|s| **s == "super").count();
                // A file `a/b.rs` is module `a::b`; `super` is `a`.
                let base = &parent[..parent.len().saturating_sub(up)];
                base.iter()
                    .map(|s| s.to_string())
                    .chain(segs[up..].iter().map(|s| s.to_string()))
                    .collect()
            }
            "self" => parent
                .iter()
                .map(|s| s.to_string())
                .chain(segs[1..].iter().map(|s| s.to_string()))
                .collect(),
            _ => continue,
        };
        for n in (1..=absolute.len()).rev() {
            let candidate = absolute[..n].join("::");
            if files.contains_key(&candidate) {
                if candidate != module {
                    found.insert(candidate);
                }
                break;
            }
        }
        // `use crate::a::{b, c::D}` names several files: expand one level of braces.
        if let Some(open) = w.find("::{") {
            let head = &w[..open];
            let inner = &w[open + 3..w.len().saturating_sub(1)];
            for item in inner.split(',') {
                let item = item.trim();
                if item.is_empty() || item == "self" {
                    continue;
                }
                let joined = format!("{head}::{item}");
                found.extend(arrows(module, &joined, files));
            }
        }
    }
    found
}

/// Every `crate::...`, `super::...` or `self::...` path in the code, braces kept whole.
fn paths_in(code: &str) -> Vec<String> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        // Paths are ASCII; a byte inside a multi-byte character starts none.
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let rest = &code[i..];
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .any(|p| rest.starts_with(p));
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts && boundary {
            let mut j = i;
            let mut depth = 0i32;
            while j < bytes.len() {
                let c = bytes[j];
                match c {
                    b'{' => depth += 1,
                    b'}' if depth > 0 => depth -= 1,
                    b'}' => break,
                    _ => {}
                }
                let path_char = c.is_ascii_alphanumeric() || c == b'_' || c == b':';
                if depth == 0 && !path_char && c != b'{' {
                    break;
                }
                j += 1;
            }
            out.push(code[i..j].split_whitespace().collect::<String>());
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = modules();
    files
        .iter()
        .map(|(m, p)| {
            let code = code_of(p);
            let mut to = arrows(m, &code, &files);
            to.extend(child_arrows(m, &code, &files));
            // A folder's root file is its face: a child naming what its own root declares or
            // re-exports is inside one room, not a circle between rooms.
            to.retain(|t| !m.starts_with(&format!("{t}::")));
            (m.clone(), to)
        })
        .collect()
}

/// A file that declares `mod c;` may name it bare (`c::Thing`, `pub use c::Thing`).
fn child_arrows(module: &str, code: &str, files: &BTreeMap<String, PathBuf>) -> Vec<String> {
    let mut out = Vec::new();
    for line in code.lines() {
        let t = line
            .trim_start()
            .trim_start_matches("pub ")
            .trim_start_matches("pub(crate) ");
        let Some(rest) = t.strip_prefix("mod ") else {
            continue;
        };
        let Some(child) = rest.strip_suffix(';') else {
            continue;
        };
        let full = format!("{module}::{child}");
        let needle = format!("{child}::");
        let named = code.match_indices(&needle).any(|(i, _)| {
            let before = code[..i].chars().next_back();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        });
        if named && files.contains_key(&full) {
            out.push(full);
        }
    }
    out
}

/// Strongly connected groups of more than one file (Tarjan).
fn circles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        for w in s.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                group.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.out.push(group);
            }
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_file_under_src_is_part_of_an_import_circle() {
    let g = graph();
    let found = circles(&g);
    assert!(found.is_empty(), "import circles: {found:#?}");
}

/// The ground floor beside config: the message's value types (addresses, DSN parameters), which
/// config may name (an upstream's default NOTIFY) and which import nothing themselves.
const VALUE_MODULES: &[&str] = &["envelope"];

#[test]
fn the_value_modules_import_nothing_from_the_crate() {
    let g = graph();
    for (m, to) in &g {
        let Some(value) = VALUE_MODULES
            .iter()
            .find(|v| m == *v || m.starts_with(&format!("{v}::")))
        else {
            continue;
        };
        let outside: Vec<&String> = to
            .iter()
            .filter(|t| *t != value && !t.starts_with(&format!("{value}::")))
            .collect();
        assert!(outside.is_empty(), "{m} imports {outside:?}");
    }
}

#[test]
fn config_imports_nothing_from_the_stages() {
    let g = graph();
    let up: Vec<String> = g
        .iter()
        .filter(|(m, _)| *m == "config" || m.starts_with("config::"))
        .flat_map(|(m, to)| {
            to.iter()
                .filter(|t| *t != "config" && !t.starts_with("config::"))
                .filter(|t| {
                    !VALUE_MODULES
                        .iter()
                        .any(|v| t == v || t.starts_with(&format!("{v}::")))
                })
                .map(move |t| format!("{m} -> {t}"))
        })
        .collect();
    assert!(up.is_empty(), "config reaches up into: {up:#?}");
}

#[test]
fn a_transport_names_no_other_part_of_delivery() {
    // The transports sit at the bottom of delivery: the attempt uses them, never the other way.
    let g = graph();
    let wrong: Vec<String> = g
        .iter()
        .filter(|(m, _)| m.starts_with("delivery::transport"))
        .flat_map(|(m, to)| {
            to.iter()
                .filter(|t| t.starts_with("delivery") && !t.starts_with("delivery::transport"))
                .map(move |t| format!("{m} -> {t}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "transports reach up into delivery: {wrong:#?}"
    );
}

/// Files allowed past 500 lines, each with the reason `docs/flow.md` gives.
const LONG_FILES: &[&str] = &[];

#[test]
fn no_file_under_src_is_over_500_lines() {
    let long: Vec<String> = modules()
        .iter()
        .filter(|(m, _)| !LONG_FILES.contains(&m.as_str()))
        .filter_map(|(m, p)| {
            let n = std::fs::read_to_string(p).unwrap().lines().count();
            (n > 500).then(|| format!("{m}: {n} lines"))
        })
        .collect();
    assert!(long.is_empty(), "files over 500 lines: {long:#?}");
}
