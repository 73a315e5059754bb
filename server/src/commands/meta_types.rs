//! The shapes of the generated command metadata (`meta.rs`): what COMMAND
//! INFO and COMMAND DOCS report and what COMMAND GETKEYS interprets.
//!
//! Everything is `'static` data produced by `tools/gen-command-meta.py`; field
//! names follow Redis's reply field names so the encoder is a direct mapping.

/// One command (or subcommand, whose `name` is "parent|sub").
#[derive(Debug)]
pub struct CommandMeta {
    pub name: &'static str,
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    /// With the leading '@', in Redis's order.
    pub acl_categories: &'static [&'static str],
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
    pub subcommands: &'static [&'static CommandMeta],
    pub doc: Doc,
}

#[derive(Debug)]
pub struct KeySpec {
    pub notes: Option<&'static str>,
    pub flags: &'static [&'static str],
    pub begin_search: BeginSearch,
    pub find_keys: FindKeys,
}

#[derive(Debug, Clone, Copy)]
pub enum BeginSearch {
    Index(i32),
    Keyword {
        keyword: &'static str,
        startfrom: i32,
    },
    Unknown,
}

#[derive(Debug, Clone, Copy)]
pub enum FindKeys {
    Range {
        lastkey: i32,
        keystep: i32,
        limit: i32,
    },
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        keystep: i32,
    },
    Unknown,
}

/// COMMAND DOCS fields.
#[derive(Debug)]
pub struct Doc {
    pub summary: &'static str,
    pub since: &'static str,
    pub group: &'static str,
    pub complexity: Option<&'static str>,
    pub doc_flags: &'static [&'static str],
    pub deprecated_since: Option<&'static str>,
    pub replaced_by: Option<&'static str>,
    pub history: &'static [(&'static str, &'static str)],
    pub arguments: &'static [Arg],
}

/// One argument of COMMAND DOCS (a tree for oneof/block arguments).
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    /// Redis's "type" field (string, integer, key, oneof, block, pure-token, ...).
    pub kind: &'static str,
    pub display_text: Option<&'static str>,
    /// -1 when the argument is not a key.
    pub key_spec_index: i32,
    pub token: Option<&'static str>,
    pub summary: Option<&'static str>,
    pub since: Option<&'static str>,
    pub deprecated_since: Option<&'static str>,
    pub flags: &'static [&'static str],
    pub arguments: &'static [Arg],
}

/// The metadata of a command or subcommand by its full lower-case name
/// ("get", "config|get").
pub fn lookup(full_name: &str) -> Option<&'static CommandMeta> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static INDEX: OnceLock<HashMap<&'static str, &'static CommandMeta>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut map = HashMap::new();
        for &m in super::meta::COMMANDS {
            map.insert(m.name, m);
            for &s in m.subcommands {
                map.insert(s.name, s);
            }
        }
        map
    });
    index.get(full_name).copied()
}
