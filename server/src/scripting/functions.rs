//! FUNCTION libraries (Redis 7): `#!lua name=<lib>` code whose top level
//! registers functions with `redis.register_function`, kept with its
//! source so RDB files and FUNCTION DUMP can carry it.
//!
//! All libraries share one VM. Its globals table is an empty read-only
//! table whose metatable's `__index` points at the real globals while
//! functions run and at a small load API (`redis.register_function`,
//! `redis.log`, the constants) while a library's code is loaded; every
//! function a library defines sees the right one at the right time.
//!
//! Function and library names: letters, digits and '_'. Function names are
//! unique across libraries, case-insensitively.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Table, Value};

use super::engine::{self, NativeResult, Raise, VmKind};
use super::redis_api::raise_err;
use super::ScriptFlags;
use crate::commands::CmdError;

pub struct FunctionDef {
    pub name: String,
    pub func: Function,
    pub description: Option<Bytes>,
    pub flags: ScriptFlags,
}

pub struct Library {
    pub name: String,
    pub code: Bytes,
    /// By function name as registered.
    pub functions: BTreeMap<String, FunctionDef>,
}

pub struct Functions {
    pub lua: Lua,
    /// By library name.
    pub libraries: BTreeMap<String, Library>,
    /// Lower-case function name -> library name.
    index: BTreeMap<String, String>,
}

impl Default for Functions {
    fn default() -> Self {
        Self::new()
    }
}

impl Functions {
    pub fn new() -> Functions {
        Functions {
            lua: engine::new_vm(VmKind::Functions),
            libraries: BTreeMap::new(),
            index: BTreeMap::new(),
        }
    }

    pub fn function_count(&self) -> usize {
        self.index.len()
    }

    /// The function called `name` (case-insensitive) and its library.
    pub fn find(&self, name: &[u8]) -> Option<(&Library, &FunctionDef)> {
        let key = String::from_utf8_lossy(name).to_ascii_lowercase();
        let lib = self.libraries.get(self.index.get(&key)?)?;
        let f = lib
            .functions
            .values()
            .find(|f| f.name.eq_ignore_ascii_case(&key))?;
        Some((lib, f))
    }

    /// Library sources in a stable order (RDB FUNCTION2 records, DUMP).
    pub fn codes(&self) -> Vec<Vec<u8>> {
        self.libraries.values().map(|l| l.code.to_vec()).collect()
    }

    pub fn code_bytes(&self) -> usize {
        self.libraries.values().map(|l| l.code.len()).sum()
    }

    pub fn delete(&mut self, name: &str) -> bool {
        let Some(lib) = self.libraries.remove(name) else {
            return false;
        };
        for f in lib.functions.keys() {
            self.index.remove(&f.to_ascii_lowercase());
        }
        true
    }

    /// Adds a compiled library, replacing one of the same name. The caller
    /// checked for conflicts.
    fn install(&mut self, lib: Library) {
        self.delete(&lib.name.clone());
        for f in lib.functions.keys() {
            self.index.insert(f.to_ascii_lowercase(), lib.name.clone());
        }
        self.libraries.insert(lib.name.clone(), lib);
    }

    /// FUNCTION LOAD: compiles `code` and installs it. Returns the
    /// library's name.
    pub fn load(&mut self, code: &Bytes, replace: bool) -> Result<String, CmdError> {
        let (name, _) = parse_metadata(code)?;
        if !replace && self.libraries.contains_key(&name) {
            return Err(CmdError::new(format!(
                "ERR Library '{name}' already exists"
            )));
        }
        let lib = self.compile(code)?;
        self.check_conflicts(&lib, |other| other == lib.name)?;
        let name = lib.name.clone();
        self.install(lib);
        Ok(name)
    }

    /// A function of `lib` already registered by another library (one
    /// `skip` does not exclude).
    fn check_conflicts(&self, lib: &Library, skip: impl Fn(&str) -> bool) -> Result<(), CmdError> {
        for f in lib.functions.keys() {
            if let Some(owner) = self.index.get(&f.to_ascii_lowercase()) {
                if !skip(owner) {
                    return Err(CmdError::new(format!("ERR Function {f} already exists")));
                }
            }
        }
        Ok(())
    }

    /// Parses the metadata, compiles and runs the library's code in this
    /// VM, and collects what it registered.
    pub fn compile(&self, code: &Bytes) -> Result<Library, CmdError> {
        let (name, body_start) = parse_metadata(code)?;
        let lua = &self.lua;
        let func = engine::compile(lua, &code[body_start..], "@user_function", None)
            .map_err(|m| CmdError::new(format!("ERR Error compiling function: {m}")))?;
        let registered = run_load(lua, &func)
            .map_err(|m| CmdError::new(format!("ERR Error registering functions: {m}")))?;
        if registered.is_empty() {
            return Err(CmdError::new("ERR No functions registered"));
        }
        let mut functions = BTreeMap::new();
        for f in registered {
            functions.insert(f.name.clone(), f);
        }
        Ok(Library {
            name,
            code: code.clone(),
            functions,
        })
    }

    /// FUNCTION RESTORE: installs `libs` under `policy`, all or nothing.
    pub fn restore(&mut self, libs: Vec<Library>, policy: RestorePolicy) -> Result<(), CmdError> {
        match policy {
            RestorePolicy::Flush => {
                self.libraries.clear();
                self.index.clear();
            }
            RestorePolicy::Append => {
                for lib in &libs {
                    if self.libraries.contains_key(&lib.name) {
                        return Err(CmdError::new(format!(
                            "ERR Library {} already exists",
                            lib.name
                        )));
                    }
                }
            }
            RestorePolicy::Replace => {}
        }
        let replaced: Vec<String> = libs.iter().map(|l| l.name.clone()).collect();
        let mut seen = std::collections::HashSet::new();
        for lib in &libs {
            self.check_conflicts(lib, |owner| replaced.iter().any(|r| r == owner))?;
            for f in lib.functions.keys() {
                if !seen.insert(f.to_ascii_lowercase()) {
                    return Err(CmdError::new(format!("ERR Function {f} already exists")));
                }
            }
        }
        for lib in libs {
            self.install(lib);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    Flush,
    Append,
    Replace,
}

/// Letters, digits and '_', at least one.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

const BAD_NAME: &str = "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// `#!<engine> name=<lib>`: the library name and where the code starts
/// (the newline ending the line, so line numbers stay the user's).
pub fn parse_metadata(code: &[u8]) -> Result<(String, usize), CmdError> {
    if !code.starts_with(b"#!") {
        return Err(CmdError::new("ERR Missing library metadata"));
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err(CmdError::new("ERR Invalid library metadata"));
    };
    let mut parts = code[..end].split(|&b| b == b' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or(b"#!");
    let engine = &engine[2..];
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(CmdError::new(format!(
            "ERR Engine '{}' not found",
            String::from_utf8_lossy(engine)
        )));
    }
    let mut name: Option<&[u8]> = None;
    for part in parts {
        match part.strip_prefix(b"name=") {
            Some(n) => {
                if name.is_some() {
                    return Err(CmdError::new(
                        "ERR Invalid metadata value, name argument was given multiple times",
                    ));
                }
                name = Some(n);
            }
            None => {
                return Err(CmdError::new(format!(
                    "ERR Invalid metadata value given: {}",
                    String::from_utf8_lossy(part)
                )))
            }
        }
    }
    let Some(name) = name else {
        return Err(CmdError::new("ERR Library name was not given"));
    };
    if !valid_name(name) {
        return Err(CmdError::new(BAD_NAME));
    }
    Ok((String::from_utf8_lossy(name).into_owned(), end))
}

/// Functions registered by the library being loaded (VM app data).
struct LoadCtx(Vec<FunctionDef>);

/// Runs a library's top level with the load API as its globals.
fn run_load(lua: &Lua, func: &Function) -> Result<Vec<FunctionDef>, String> {
    let meta: Table = lua
        .named_registry_value("strata.env_meta")
        .map_err(|e| e.to_string())?;
    let load_api: Table = lua
        .named_registry_value("strata.load_api")
        .map_err(|e| e.to_string())?;
    let globals: Table = lua
        .named_registry_value("strata.real_globals")
        .map_err(|e| e.to_string())?;
    let runner: Function = lua
        .named_registry_value("strata.run")
        .map_err(|e| e.to_string())?;
    let handler: Function = lua
        .named_registry_value("strata.handler")
        .map_err(|e| e.to_string())?;
    engine::with_writable(lua, &meta, || meta.raw_set("__index", load_api))
        .map_err(|e| e.to_string())?;
    lua.set_app_data(LoadCtx(Vec::new()));
    lua.set_app_data(super::run::LoadDeadline(
        Instant::now() + Duration::from_millis(super::run::LOAD_TIMEOUT_MS),
    ));
    let result = runner.call::<(bool, Value)>((handler, func.clone()));
    lua.remove_app_data::<super::run::LoadDeadline>();
    let registered = lua
        .remove_app_data::<LoadCtx>()
        .map(|c| c.0)
        .unwrap_or_default();
    let _ = engine::with_writable(lua, &meta, || meta.raw_set("__index", globals));
    match result {
        Ok((true, _)) => Ok(registered),
        Ok((false, Value::Table(t))) => Err(match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => s.to_string_lossy(),
            _ => "ERR unknown error".into(),
        }),
        Ok((false, _)) => Err("ERR unknown error".into()),
        Err(e) => Err(format!("ERR {}", engine::error_message(&e))),
    }
}

/// Sets up the functions VM's globals (see the module note). `g` is the
/// table holding the real globals.
pub fn setup_env(lua: &Lua, g: &Table) -> mlua::Result<()> {
    let nonexistent: Function = lua.named_registry_value("strata.nonexistent")?;
    let load_api = lua.create_table()?;
    let load_redis = super::redis_api::open_load_api(lua)?;
    let redis_meta = lua.create_table()?;
    redis_meta.raw_set("__index", nonexistent.clone())?;
    load_redis.set_metatable(Some(redis_meta))?;
    load_api.raw_set("redis", load_redis)?;
    let api_meta = lua.create_table()?;
    api_meta.raw_set("__index", nonexistent)?;
    load_api.set_metatable(Some(api_meta))?;

    let env = lua.create_table()?;
    let env_meta = lua.create_table()?;
    env_meta.raw_set("__index", g.clone())?;
    env.set_metatable(Some(env_meta.clone()))?;
    lua.set_globals(env.clone())?;
    lua.set_named_registry_value("strata.env_meta", env_meta.clone())?;
    lua.set_named_registry_value("strata.load_api", load_api.clone())?;
    lua.set_named_registry_value("strata.real_globals", g.clone())?;
    engine::protect_recursively(lua, &load_api)?;
    engine::set_readonly(lua, &env, true);
    engine::set_readonly(lua, &env_meta, true);
    Ok(())
}

/// `redis.register_function(name, callback)` or
/// `redis.register_function{function_name=..., callback=..., flags=..., description=...}`.
pub fn register_function(lua: &Lua, args: MultiValue) -> NativeResult {
    let err = |m: &str| raise_err(lua, m);
    if lua.app_data_ref::<LoadCtx>().is_none() {
        return Err(err(
            "ERR redis.register_function can only be called on FUNCTION LOAD command",
        ));
    }
    let (name, func, description, flags) = match args.len() {
        1 => {
            let Value::Table(t) = &args[0] else {
                return Err(err("ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."));
            };
            named_args(lua, t)?
        }
        2 => {
            let name = match &args[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Integer(n) => n.to_string().into_bytes(),
                Value::Number(n) => engine::lua_number_str(*n).into_bytes(),
                _ => {
                    return Err(err(
                        "ERR first argument to redis.register_function must be a string",
                    ))
                }
            };
            let Value::Function(f) = &args[1] else {
                return Err(err(
                    "ERR second argument to redis.register_function must be a function",
                ));
            };
            (name, f.clone(), None, ScriptFlags::default())
        }
        _ => {
            return Err(err(
                "ERR wrong number of arguments to redis.register_function",
            ))
        }
    };
    if !valid_name(&name) {
        return Err(err(BAD_NAME));
    }
    let name = String::from_utf8_lossy(&name).into_owned();
    let Some(mut ctx) = lua.app_data_mut::<LoadCtx>() else {
        return Err(err(
            "ERR redis.register_function can only be called on FUNCTION LOAD command",
        ));
    };
    if ctx.0.iter().any(|f| f.name.eq_ignore_ascii_case(&name)) {
        return Err(err("ERR Function already exists in the library"));
    }
    ctx.0.push(FunctionDef {
        name,
        func,
        description,
        flags,
    });
    Ok(MultiValue::new())
}

type NamedArgs = (Vec<u8>, Function, Option<Bytes>, ScriptFlags);

fn named_args(lua: &Lua, t: &Table) -> Result<NamedArgs, Raise> {
    let err = |m: &str| raise_err(lua, m);
    let mut name = None;
    let mut func = None;
    let mut description = None;
    let mut flags = ScriptFlags::default();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| Raise::Msg(e.to_string()))?;
        let key = match &k {
            Value::String(s) => s.as_bytes().to_vec(),
            _ => {
                return Err(err(
                    "ERR named argument key given to redis.register_function is not a string",
                ))
            }
        };
        match &key[..] {
            b"function_name" => match &v {
                Value::String(s) => name = Some(s.as_bytes().to_vec()),
                Value::Integer(n) => name = Some(n.to_string().into_bytes()),
                Value::Number(n) => name = Some(engine::lua_number_str(*n).into_bytes()),
                _ => return Err(err(
                    "ERR function_name argument given to redis.register_function must be a string",
                )),
            },
            b"description" => match &v {
                Value::String(s) => description = Some(Bytes::copy_from_slice(&s.as_bytes())),
                Value::Integer(n) => description = Some(Bytes::from(n.to_string())),
                Value::Number(n) => description = Some(Bytes::from(engine::lua_number_str(*n))),
                _ => return Err(err(
                    "ERR description argument given to redis.register_function must be a string",
                )),
            },
            b"callback" => {
                match &v {
                    Value::Function(f) => func = Some(f.clone()),
                    _ => return Err(err(
                        "ERR callback argument given to redis.register_function must be a function",
                    )),
                }
            }
            b"flags" => {
                let Value::Table(list) = &v else {
                    return Err(err("ERR flags argument to redis.register_function must be a table representing function flags"));
                };
                for item in list.sequence_values::<Value>() {
                    let item = item.map_err(|e| Raise::Msg(e.to_string()))?;
                    let Value::String(s) = item else {
                        return Err(err("ERR unknown flag given"));
                    };
                    if !flags.set(&s.as_bytes()) {
                        return Err(err("ERR unknown flag given"));
                    }
                }
            }
            _ => return Err(err("ERR unknown argument given to redis.register_function")),
        }
    }
    let Some(name) = name else {
        return Err(err(
            "ERR redis.register_function must get a function name argument",
        ));
    };
    let Some(func) = func else {
        return Err(err(
            "ERR redis.register_function must get a callback argument",
        ));
    };
    Ok((name, func, description, flags))
}

/// FUNCTION DUMP's payload: FUNCTION2 records, the RDB version and a
/// CRC-64, as Redis writes it.
pub fn dump_payload(codes: &[Vec<u8>], compress: bool) -> Vec<u8> {
    use strata_persistence::rdb::{opcode, writer::Writer, RDB_VERSION_WRITTEN};
    let mut w = Writer::without_checksum(Vec::new(), compress);
    for code in codes {
        // Writing into a Vec cannot fail.
        let _ = w.u8(opcode::FUNCTION2);
        let _ = w.string(code);
    }
    let mut out = w.into_inner();
    out.extend_from_slice(&(RDB_VERSION_WRITTEN as u16).to_le_bytes());
    let crc = strata_persistence::crc64::checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The library sources in a FUNCTION RESTORE payload.
pub fn parse_payload(payload: &[u8]) -> Result<Vec<Vec<u8>>, CmdError> {
    use strata_persistence::rdb::{opcode, reader::Reader, RDB_VERSION_MAX};
    let bad = || CmdError::new("ERR DUMP payload version or checksum are wrong");
    if payload.len() < 10 {
        return Err(bad());
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version as u32 > RDB_VERSION_MAX {
        return Err(bad());
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    let crc = u64::from_le_bytes(crc);
    if strata_persistence::crc64::checksum(&payload[..payload.len() - 8]) != crc {
        return Err(bad());
    }
    let mut r = Reader::new(body);
    let mut codes = Vec::new();
    while r.pos() < body.len() as u64 {
        let op = r
            .u8("opcode")
            .map_err(|_| CmdError::new("ERR given payload is not a valid function payload"))?;
        if op == opcode::FUNCTION_PRE_GA {
            return Err(CmdError::new("ERR Pre-GA function format not supported"));
        }
        if op != opcode::FUNCTION2 {
            return Err(CmdError::new("ERR given type is not a function"));
        }
        let code = r
            .string("function library")
            .map_err(|_| CmdError::new("ERR given payload is not a valid function payload"))?;
        codes.push(code);
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_rules() {
        assert_eq!(parse_metadata(b"#!lua name=x\n").unwrap(), ("x".into(), 12));
        assert_eq!(
            parse_metadata(b"return 1").unwrap_err().0,
            "ERR Missing library metadata"
        );
        assert_eq!(
            parse_metadata(b"#!lua name=x").unwrap_err().0,
            "ERR Invalid library metadata"
        );
        assert_eq!(
            parse_metadata(b"#!js name=x\n").unwrap_err().0,
            "ERR Engine 'js' not found"
        );
        assert_eq!(
            parse_metadata(b"#!lua\n").unwrap_err().0,
            "ERR Library name was not given"
        );
        assert_eq!(
            parse_metadata(b"#!lua name=x foo=bar\n").unwrap_err().0,
            "ERR Invalid metadata value given: foo=bar"
        );
    }

    #[test]
    fn load_and_find() {
        let mut f = Functions::new();
        let code = Bytes::from_static(
            b"#!lua name=lib\nredis.register_function('Hello', function(k, a) return a[1] end)",
        );
        assert_eq!(f.load(&code, false).unwrap(), "lib");
        assert!(f.find(b"hello").is_some());
        assert_eq!(
            f.load(&code, false).unwrap_err().0,
            "ERR Library 'lib' already exists"
        );
        let other = Bytes::from_static(
            b"#!lua name=other\nredis.register_function('hello', function() end)",
        );
        assert_eq!(
            f.load(&other, false).unwrap_err().0,
            "ERR Function hello already exists"
        );
        let bad = Bytes::from_static(b"#!lua name=bad\nredis.call('ping')");
        assert_eq!(
            f.load(&bad, false).unwrap_err().0,
            "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'"
        );
    }

    #[test]
    fn dump_round_trips() {
        let codes = vec![b"#!lua name=a\nredis.register_function('a', function() end)".to_vec()];
        let p = dump_payload(&codes, true);
        assert_eq!(parse_payload(&p).unwrap(), codes);
        let mut broken = p.clone();
        broken[3] ^= 1;
        assert!(parse_payload(&broken).is_err());
    }
}
