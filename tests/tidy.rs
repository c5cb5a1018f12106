//! Keeps the code map true without anyone watching (rust-analyzer keeps such a test): every `.rs` file under `src/`
//! is read, its references to other modules of the crate are collected, and the tests fail when a module imports
//! against the layering table (`LAYERS`), when files import each other around a circle of any length, or when
//! database or HTTP client code appears where it must not (`forbidden_text`).
//!
//! The sources are read as text, with std only. Comments, string and character literals are blanked first, so doc
//! text cannot fool the reader. A reference is a path in a `use` tree (grouped and nested braces included), an
//! inline `crate::`, `super::` or `self::` path, or a relative path through one of the file's own `mod`
//! declarations (`pub use error::Error` in a `mod.rs`, `store::Db::connect` in `lib.rs`). `mod x;` is a
//! declaration, not an import. A path resolves to the longest prefix that is a file: `crate::services::sso::Pending`
//! is `src/services/sso.rs`, `crate::services::Ctx` is `src/services/mod.rs`. Code under `#[cfg(test)]` counts for
//! the layering but not for circles (a test module's `use super::*` is its own file anyway). A `mod.rs` that uses its
//! own submodules (composing their routers, re-exporting their error) contains them; that is no circle.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// Top-level module -> the top-level modules it may import; a module may always import its own files (circles
/// aside). ARCHITECTURE.md's "Code map" states the same table: change both together. `lib` and `main` do the
/// wiring and may import anything. A top-level module missing here fails the test until it is given a row.
const LAYERS: &[(&str, &[&str])] = &[
    ("lib", &[ANYTHING]),
    ("main", &[ANYTHING]),
    ("web", &["services", "config", "audit", "directory", "saml", "catalog"]),
    ("cli", &["services", "config", "audit", "directory", "saml", "catalog"]),
    (
        "services",
        &["provisioning", "mail", "store", "catalog", "mapping", "saml", "directory", "audit", "config", "secret"],
    ),
    ("provisioning", &["store", "catalog", "mapping", "directory", "audit", "secret", "config"]),
    ("mail", &["store", "audit", "secret", "config"]),
    ("catalog", &["mapping", "directory", "saml"]),
    ("store", &["directory", "audit", "saml", "secret"]),
    ("mapping", &["directory"]),
    ("directory", &["saml"]),
    ("saml", &[]),
    ("audit", &[]),
    ("config", &[]),
    ("secret", &[]),
];

const ANYTHING: &str = "*";

#[test]
fn imports_follow_the_layering() {
    let problems = layering_problems(&sources());
    assert!(
        problems.is_empty(),
        "imports against the layering table (tests/tidy.rs, LAYERS):\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_import_circles() {
    let problems = circles(&sources());
    assert!(problems.is_empty(), "files that import each other, around a circle:\n{}", problems.join("\n"));
}

#[test]
fn no_sql_or_http_client_outside_their_modules() {
    let problems = forbidden_text(&sources());
    assert!(problems.is_empty(), "code where it must not be:\n{}", problems.join("\n"));
}

/// The checker itself: a back-import, a two-file circle and forbidden code are reported, and doc text, strings and
/// test modules do not count, so the tests above cannot pass by reading nothing.
#[test]
fn checker_reports_back_imports_circles_and_forbidden_code() {
    let files = vec![
        file("src/lib.rs", "pub mod store;\npub mod web;\n"),
        file(
            "src/store/mod.rs",
            "//! Doc text naming crate::web::Page must not count.\n\
             pub mod a;\npub mod b;\n\
             use crate::web::{self, Handler};\n\
             #[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
        file("src/store/a.rs", "use crate::{store::{b::{X, Y as Z}}};\npub fn g() {}\n"),
        file("src/store/b.rs", "pub struct X;\npub struct Y;\npub fn f() { let c = '\"'; crate::store::a::g() }\n"),
        file(
            "src/web/mod.rs",
            "/* crate::store::b::X in a comment */\n\
             const S: &str = \"crate::store::a::g\";\n\
             const R: &str = r#\"use crate::store::b;\"#;\n\
             pub struct Handler;\npub struct Page<'a>(&'a str);\n\
             fn h() { let _ = sqlx::query(\"select 1\"); }\n",
        ),
    ];

    let layering = layering_problems(&files);
    assert_eq!(layering.len(), 1, "{layering:#?}");
    assert!(layering[0].starts_with("src/store/mod.rs -> src/web/mod.rs ("), "{layering:#?}");
    assert!(layering[0].contains("crate::web::Handler"), "{layering:#?}");

    let circles = circles(&files);
    assert_eq!(circles.len(), 1, "{circles:#?}");
    assert!(circles[0].contains("src/store/a.rs -> src/store/b.rs (crate::store::b::X, crate::store::b::Y)"));
    assert!(circles[0].contains("src/store/b.rs -> src/store/a.rs (crate::store::a::g)"), "{circles:#?}");

    let forbidden = forbidden_text(&files);
    assert_eq!(forbidden.len(), 2, "{forbidden:#?}");
    assert!(forbidden.iter().any(|p| p.starts_with("src/web/mod.rs: sqlx::query")), "{forbidden:#?}");
    assert!(forbidden.iter().any(|p| p.starts_with("src/web/mod.rs: sqlx::") && !p.contains("query")));
}

/// Relative paths through a file's `mod` declarations, `super::` and `self::` resolve to the right files.
#[test]
fn checker_resolves_relative_paths() {
    let files = vec![
        file("src/lib.rs", "pub mod services;\n"),
        file("src/services/mod.rs", "pub mod error;\npub mod sso;\npub use error::Error;\npub struct Ctx;\n"),
        file("src/services/error.rs", "use super::sso::Pending;\npub enum Error {}\n"),
        file("src/services/sso.rs", "use super::Ctx;\nuse self::inner::X;\nmod inner { pub struct X; }\n"),
    ];
    let graph = graph(&files, false);
    let targets = |from: &str| graph.get(from).map(|t| t.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    // A parent's use of its own submodule (the re-exported error) is containment, not an edge.
    assert!(targets("src/services/mod.rs").is_empty());
    assert_eq!(targets("src/services/error.rs"), ["src/services/sso.rs"]);
    assert_eq!(targets("src/services/sso.rs"), ["src/services/mod.rs"]);
}

struct File {
    /// `src/...`, with `/` separators.
    path: String,
    /// The code with comments and literals blanked.
    code: String,
}

fn file(path: &str, text: &str) -> File {
    File { path: path.to_owned(), code: blank_comments_and_literals(text) }
}

fn sources() -> Vec<File> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    collect_rs(&root.join("src"), &mut paths);
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let relative = p.strip_prefix(root).unwrap();
            let name = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            file(&name, &std::fs::read_to_string(p).unwrap())
        })
        .collect()
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every reference against `LAYERS`, as `src/a.rs -> src/b.rs (paths)`.
fn layering_problems(files: &[File]) -> Vec<String> {
    let table: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut problems = Vec::new();
    let tops: BTreeSet<String> = files.iter().map(|f| top_module(&f.path)).collect();
    for top in &tops {
        if !table.contains_key(top.as_str()) {
            problems.push(format!("top-level module {top} has no row in LAYERS"));
        }
    }
    for (from, targets) in graph(files, true) {
        let from_top = top_module(&from);
        let allowed = table.get(from_top.as_str()).copied().unwrap_or_default();
        if allowed.contains(&ANYTHING) {
            continue;
        }
        for (to, names) in targets {
            let to_top = top_module(&to);
            if to_top != from_top && !allowed.contains(&to_top.as_str()) {
                problems.push(format!("{from} -> {to} ({}): {from_top} may not import {to_top}", join(&names)));
            }
        }
    }
    problems
}

/// Every circle in the files' import graph (test code left out). Each group of files that reach one another is
/// reported by its shortest circles, one through each file, with the names behind each arrow.
fn circles(files: &[File]) -> Vec<String> {
    let graph = graph(files, false);
    let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut problems = Vec::new();
    for component in strongly_connected(&graph) {
        if component.len() < 2 {
            continue;
        }
        for start in &component {
            let Some(cycle) = shortest_cycle(&graph, &component, start) else { continue };
            // The same circle found from another of its files is reported once.
            let mut key = cycle.clone();
            let smallest = (0..key.len()).min_by_key(|&i| &key[i]).unwrap_or(0);
            key.rotate_left(smallest);
            if !reported.insert(key) {
                continue;
            }
            let mut lines = vec![format!("circle of {} files:", cycle.len())];
            for (i, from) in cycle.iter().enumerate() {
                let to = &cycle[(i + 1) % cycle.len()];
                lines.push(format!("    {from} -> {to} ({})", join(&graph[from][to])));
            }
            problems.push(lines.join("\n"));
        }
    }
    problems
}

/// Code that belongs to one module only: SQL to `store`, SMTP to `mail`, and neither the database nor the HTTP
/// client at the edges.
fn forbidden_text(files: &[File]) -> Vec<String> {
    let mut problems = Vec::new();
    for f in files {
        let is_edge = f.path.starts_with("src/web/") || f.path.starts_with("src/cli");
        let mut rules: Vec<(&str, &str)> = Vec::new();
        if !f.path.starts_with("src/store/") {
            rules.push(("sqlx::query", "only store writes SQL"));
        }
        if is_edge {
            rules.push(("sqlx::", "web and cli reach the database through services"));
            rules.push(("reqwest::", "web and cli make no HTTP calls; services do"));
        }
        if !f.path.starts_with("src/mail/") {
            rules.push(("lettre::", "only mail speaks SMTP"));
        }
        for (text, why) in rules {
            let n = f.code.matches(text).count();
            if n > 0 {
                problems.push(format!("{}: {text} (found {n}): {why}", f.path));
            }
        }
    }
    problems
}

/// File -> file -> the paths (as `crate::…`) behind the edge. Self-references are left out; so is test code unless
/// `with_tests`.
fn graph(files: &[File], with_tests: bool) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let known: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for f in files {
        let edges = graph.entry(f.path.clone()).or_default();
        for r in references(f) {
            if r.in_test && !with_tests {
                continue;
            }
            let Some(target) = resolve(&r.module, &known) else { continue };
            if target != f.path && !contains(&f.path, &target) {
                edges.entry(target).or_default().insert(r.shown);
            }
        }
    }
    graph
}

/// Whether `parent` is the module file (`mod.rs`, or `lib.rs` for the crate) of a directory that holds `child`: a
/// parent assembles its own submodules (routers, re-exported errors), which is containment, not an import; its
/// children may then use what it shares without closing a circle. Siblings and other modules get no such pass.
fn contains(parent: &str, child: &str) -> bool {
    let dir = match parent.strip_suffix("mod.rs") {
        Some(dir) => dir,
        None if parent == "src/lib.rs" => "src/",
        None => return false,
    };
    child.starts_with(dir)
}

/// The file of the longest prefix of an absolute module path that is a file; the crate root is `src/lib.rs`.
fn resolve(path: &[String], known: &BTreeSet<&str>) -> Option<String> {
    for k in (1..=path.len()).rev() {
        let base = format!("src/{}", path[..k].join("/"));
        for candidate in [format!("{base}.rs"), format!("{base}/mod.rs")] {
            if known.contains(candidate.as_str()) {
                return Some(candidate);
            }
        }
    }
    known.contains("src/lib.rs").then(|| "src/lib.rs".to_owned())
}

/// `lib`, `main`, or the first directory or file name under `src/`.
fn top_module(path: &str) -> String {
    let rest = path.strip_prefix("src/").unwrap_or(path);
    let first = rest.split('/').next().unwrap_or(rest);
    first.strip_suffix(".rs").unwrap_or(first).to_owned()
}

/// The module path of a file: `src/services/sso.rs` is `services::sso`, `src/services/mod.rs` is `services`.
fn module_of(path: &str) -> Vec<String> {
    let rest = path.strip_prefix("src/").unwrap_or(path).strip_suffix(".rs").unwrap_or(path);
    let mut parts: Vec<String> = rest.split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

fn join(names: &BTreeSet<String>) -> String {
    names.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// One reference to a module of the crate.
struct Reference {
    /// The absolute module path it names (items included; `resolve` finds the file).
    module: Vec<String>,
    /// How the report shows it: `crate::a::b::Item`.
    shown: String,
    in_test: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// One open brace: whether it opened an inline module (and its name) and whether it is test code.
struct Frame {
    module: Option<String>,
    is_test: bool,
}

fn references(f: &File) -> Vec<Reference> {
    let tokens = tokenize(&f.code);
    let file_module = module_of(&f.path);
    let is_main = f.path == "src/main.rs";
    let children = declared_modules(&tokens);
    let mut out = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    // Set by `#[cfg(test)]`, taken by the next item's body or end.
    let mut cfg_test = false;
    let mut i = 0;
    while i < tokens.len() {
        let in_test = cfg_test || stack.iter().any(|f| f.is_test);
        let mut here = file_module.clone();
        here.extend(stack.iter().filter_map(|f| f.module.clone()));
        let at_file_level = stack.iter().all(|f| f.module.is_none());
        let start = Start { here: &here, children: &children, at_file_level, is_main };
        match &tokens[i] {
            Token::Punct('#') if is_cfg_test(&tokens[i..]) => {
                cfg_test = true;
                i += 7;
            }
            Token::Punct('{') => {
                let module = match (i.checked_sub(2).and_then(|j| tokens.get(j)), i.checked_sub(1).map(|j| &tokens[j]))
                {
                    (Some(Token::Ident(kw)), Some(Token::Ident(name))) if kw == "mod" => Some(name.clone()),
                    _ => None,
                };
                stack.push(Frame { module, is_test: cfg_test });
                cfg_test = false;
                i += 1;
            }
            Token::Punct('}') => {
                stack.pop();
                i += 1;
            }
            Token::Punct(';') => {
                cfg_test = false;
                i += 1;
            }
            Token::Ident(kw) if kw == "use" => {
                let mut paths = Vec::new();
                i += 1;
                use_tree(&tokens, &mut i, Vec::new(), &mut paths);
                for written in paths {
                    if let Some(r) = reference(&written, &start, in_test) {
                        out.push(r);
                    }
                }
            }
            Token::Ident(first) if tokens.get(i + 1) == Some(&Token::PathSep) => {
                let after_sep = i > 0 && matches!(tokens[i - 1], Token::PathSep | Token::Punct('.'));
                let mut written = vec![first.clone()];
                let mut j = i + 1;
                while tokens.get(j) == Some(&Token::PathSep) {
                    let Some(Token::Ident(next)) = tokens.get(j + 1) else { break };
                    written.push(next.clone());
                    j += 2;
                }
                if !after_sep {
                    if let Some(r) = reference(&written, &start, in_test) {
                        out.push(r);
                    }
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

/// Where a path is read: the module it is written in, and the file's own `mod` declarations.
struct Start<'a> {
    here: &'a [String],
    children: &'a BTreeSet<String>,
    at_file_level: bool,
    is_main: bool,
}

/// A written path as a reference to the crate, or `None` for another crate's path.
fn reference(written: &[String], start: &Start<'_>, in_test: bool) -> Option<Reference> {
    let (first, rest) = written.split_first()?;
    let mut module: Vec<String> = match first.as_str() {
        "crate" if !start.is_main => Vec::new(),
        "sesame" if start.is_main => Vec::new(),
        "self" if !start.is_main => start.here.to_vec(),
        "super" if !start.is_main => {
            let mut m = start.here.to_vec();
            m.pop();
            m
        }
        name if start.at_file_level && start.children.contains(name) => {
            let mut m = start.here.to_vec();
            m.push(name.to_owned());
            m
        }
        _ => return None,
    };
    for segment in rest {
        match segment.as_str() {
            "super" => {
                module.pop();
            }
            // `use a::b::{self}` names `a::b`.
            "self" => {}
            _ => module.push(segment.clone()),
        }
    }
    let shown = if module.is_empty() { "crate".to_owned() } else { format!("crate::{}", module.join("::")) };
    Some(Reference { module, shown, in_test })
}

/// Reads one use tree (`a::b::{c, d::{e as f, *}, self}`) from `tokens[*i]`, appending each complete path.
fn use_tree(tokens: &[Token], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    if tokens.get(*i) == Some(&Token::PathSep) {
        *i += 1;
    }
    loop {
        match tokens.get(*i) {
            Some(Token::Ident(name)) => {
                path.push(name.clone());
                *i += 1;
                match tokens.get(*i) {
                    Some(Token::PathSep) => *i += 1,
                    Some(Token::Ident(kw)) if kw == "as" => {
                        *i += 2;
                        out.push(path);
                        return;
                    }
                    _ => {
                        out.push(path);
                        return;
                    }
                }
            }
            Some(Token::Punct('{')) => {
                *i += 1;
                loop {
                    match tokens.get(*i) {
                        None => return,
                        Some(Token::Punct('}')) => {
                            *i += 1;
                            return;
                        }
                        Some(Token::Punct(',')) => *i += 1,
                        Some(_) => {
                            let before = *i;
                            use_tree(tokens, i, path.clone(), out);
                            if *i == before {
                                *i += 1;
                            }
                        }
                    }
                }
            }
            Some(Token::Punct('*')) => {
                *i += 1;
                out.push(path);
                return;
            }
            _ => return,
        }
    }
}

/// `# [ cfg ( test ) ]`
fn is_cfg_test(tokens: &[Token]) -> bool {
    let ident = |s: &str| Token::Ident(s.to_owned());
    let expected =
        [Token::Punct('#'), Token::Punct('['), ident("cfg"), Token::Punct('('), ident("test"), Token::Punct(')')];
    tokens.len() >= 7 && tokens[..6] == expected && tokens[6] == Token::Punct(']')
}

/// The names of `mod x;` declarations (modules in their own files).
fn declared_modules(tokens: &[Token]) -> BTreeSet<String> {
    tokens
        .windows(3)
        .filter_map(|w| match w {
            [Token::Ident(kw), Token::Ident(name), Token::Punct(';')] if kw == "mod" => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn tokenize(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if is_ident_char(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push(Token::PathSep);
            i += 2;
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    tokens
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The code with comments, string literals (raw and byte ones included) and character literals replaced, so that
/// no path inside them is read. Strings become `""`; lifetimes stay.
fn blank_comments_and_literals(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let at = |i: usize| c.get(i).copied();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        let prev_is_ident = i > 0 && is_ident_char(c[i - 1]);
        match c[i] {
            '/' if at(i + 1) == Some('/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == Some('*') => {
                let mut depth = 0;
                while i < c.len() {
                    if c[i] == '/' && at(i + 1) == Some('*') {
                        depth += 1;
                        i += 2;
                    } else if c[i] == '*' && at(i + 1) == Some('/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                out.push(' ');
            }
            'r' | 'b' if !prev_is_ident && raw_string_hashes(&c, i).is_some() => {
                let (open, hashes) = raw_string_hashes(&c, i).unwrap_or((i, 0));
                i = open + 1;
                while i < c.len() {
                    if c[i] == '"' && (1..=hashes).all(|k| at(i + k) == Some('#')) {
                        i += 1 + hashes;
                        break;
                    }
                    i += 1;
                }
                out.push_str("\"\"");
            }
            '"' => {
                i += 1;
                while i < c.len() {
                    match c[i] {
                        '\\' => i += 2,
                        '"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                out.push_str("\"\"");
            }
            '\'' if at(i + 1) == Some('\\') => {
                // An escaped character literal: '\'', '\n', '\u{1F600}'.
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            }
            '\'' if at(i + 2) == Some('\'') => {
                i += 3;
                out.push_str("' '");
            }
            ch => {
                // A lifetime or label ('a) stays as it is.
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// For a raw string starting at `i` (`r"`, `r#"`, `br##"`, …): the index of its opening quote and its `#` count.
fn raw_string_hashes(c: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if c.get(j) == Some(&'b') {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (c.get(j) == Some(&'"')).then_some((j, hashes))
}

/// Tarjan's strongly connected components, each sorted, in a stable order.
fn strongly_connected(graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        components: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flat_map(|t| t.keys()) {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            component.sort();
            s.components.push(component);
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.components.sort();
    s.components
}

/// The shortest circle from `start` back to it, within one component (breadth first).
fn shortest_cycle(
    graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    component: &[String],
    start: &str,
) -> Option<Vec<String>> {
    let inside: BTreeSet<&str> = component.iter().map(String::as_str).collect();
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for w in graph.get(v).into_iter().flat_map(|t| t.keys()).map(String::as_str) {
            if !inside.contains(w) {
                continue;
            }
            if w == start {
                let mut cycle = vec![v.to_owned()];
                let mut at = v;
                while at != start {
                    at = came_from[at];
                    cycle.push(at.to_owned());
                }
                cycle.reverse();
                return Some(cycle);
            }
            if w != start && !came_from.contains_key(w) {
                came_from.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    None
}
