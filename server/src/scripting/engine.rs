//! Building a sandboxed Lua VM as Redis 7.0 sets one up.
//!
//! The globals are exactly Redis's: the base library without `print`,
//! `dofile`, `loadfile`, `require`, `module`, `getfenv`, `setfenv` and
//! `newproxy`; `string`, `table`, `math` (with Redis's rand48 behind
//! `math.random`), `coroutine`, `cjson`, `cmsgpack`, `struct`, `bit` and
//! `redis`. Every table reachable from the globals is made read-only, and
//! reading a global that does not exist raises Redis's error.
//!
//! Functions written in Rust cannot raise a Lua error whose value is a
//! string or a table (mlua wraps callback errors in userdata), so each
//! native function returns `(true, results...)` or `(false, error)` and a
//! small C trampoline (`native`) raises the error with `lua_error`. Being a
//! C function, it keeps the caller's frame even in a tail call, so error
//! positions name the user's line as Redis's C functions do.

use bytes::Bytes;
use mlua::chunk::ChunkMode;
use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};

/// Chunk name of Strata's internal Lua code (skipped by the error handler).
pub const INTERNAL_CHUNK: &str = "=[redis]";
/// Nesting limit when converting tables, as Lua's C stack limit bounds
/// Redis's recursive conversion (LUAI_MAXCSTACK is 8000 slots).
pub const NESTING_MAX: usize = 7995;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmKind {
    Eval,
    Functions,
}

extern "C-unwind" {
    // Added to Lua 5.1 by vendor/lua-src (see STRATA.md there).
    fn lua_enablereadonlytable(state: *mut mlua::ffi::lua_State, idx: i32, enabled: i32);
}

/// Marks `t` read-only (or writable again).
pub fn set_readonly(lua: &Lua, t: &Table, readonly: bool) {
    // SAFETY: exec_raw pushes `t` on a fresh stack; the call only flips a
    // flag on the table at the top and cannot raise.
    let _ = unsafe {
        lua.exec_raw::<()>(t, |state| {
            lua_enablereadonlytable(state, -1, readonly as i32);
        })
    };
}

/// Runs `f` with `t` writable, then protects it again.
pub fn with_writable<R>(lua: &Lua, t: &Table, f: impl FnOnce() -> R) -> R {
    set_readonly(lua, t, false);
    let r = f();
    set_readonly(lua, t, true);
    r
}

/// An error raised by a native function.
pub enum Raise {
    /// A message raised as a string, as `lua_error` would.
    Msg(String),
    /// A message with the caller's position in front, as `luaL_error`.
    Located(String),
    /// Any value (Redis raises `{err = ...}` tables).
    Value(Value),
}

pub type NativeResult = Result<MultiValue, Raise>;

/// A Lua function backed by `f`: errors it returns are raised in Lua.
pub fn native<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> NativeResult + 'static,
{
    let raw = lua.create_function(move |lua, args: MultiValue| {
        let mut out = match f(lua, args) {
            Ok(values) => values,
            Err(raise) => {
                let err = match raise {
                    Raise::Msg(m) => Value::String(lua.create_string(m)?),
                    Raise::Located(m) => {
                        Value::String(lua.create_string(format!("{}{m}", where_(lua, 2)))?)
                    }
                    Raise::Value(v) => v,
                };
                let mut mv = MultiValue::new();
                mv.push_back(Value::Boolean(false));
                mv.push_back(err);
                return Ok(mv);
            }
        };
        out.push_front(Value::Boolean(true));
        Ok(out)
    })?;
    // SAFETY: exec_raw pushes `raw`; lua_pushcclosure pops it as the
    // closure's upvalue and pushes the closure, which is returned.
    unsafe {
        lua.exec_raw::<Function>(raw, |state| {
            mlua::ffi::lua_pushcclosure(state, trampoline, 1);
        })
    }
}

/// Calls the native function in upvalue 1 with this call's arguments and
/// raises its error, if it returned one.
///
/// SAFETY: called by Lua only. It owns no Rust value that needs dropping,
/// so `lua_error` may unwind (longjmp) past it; the Lua stack holds at
/// least the call's results when it returns.
unsafe extern "C-unwind" fn trampoline(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    let nargs = ffi::lua_gettop(state);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
    if ffi::lua_toboolean(state, 1) == 0 {
        ffi::lua_settop(state, 2);
        ffi::lua_error(state);
    }
    ffi::lua_remove(state, 1);
    ffi::lua_gettop(state)
}

/// `luaL_where`: "chunk:line: " of the function `level` frames up.
pub fn where_(lua: &Lua, level: usize) -> String {
    lua.inspect_stack(level, |d| {
        let src = d.source();
        match (src.short_src, d.current_line()) {
            (Some(s), Some(line)) if line > 0 => format!("{s}:{line}: "),
            _ => String::new(),
        }
    })
    .unwrap_or_default()
}

/// The internal helpers: Redis's `pcall`, the protected runner and the
/// error for a global that does not exist.
const PRELUDE: &str = r#"
local error, xpcall, pcall, type, rawget, tostring = error, xpcall, pcall, type, rawget, tostring
-- Redis's pcall hands back the message of an {err = ...} error table.
local function fix(ok, ...)
  if ok then return true, ... end
  local e = ...
  if type(e) == 'table' then
    local m = rawget(e, 'err')
    local t = type(m)
    if t == 'string' or t == 'number' then return false, m end
  end
  return false, e
end
local function user_pcall(f, ...)
  return fix(pcall(f, ...))
end
local function run(handler, f, a, b)
  return xpcall(function()
    if a == nil then return f() end
    return f(a, b)
  end, handler)
end
local function nonexistent(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
return user_pcall, run, nonexistent
"#;

/// A new VM of the given kind, fully set up. Setting up a VM only fails
/// when Lua cannot allocate; the server cannot work without one.
pub fn new_vm(kind: VmKind) -> Lua {
    match build_vm(kind) {
        Ok(lua) => lua,
        Err(e) => {
            crate::log_warning!("Failed creating the Lua VM: {e}");
            std::process::exit(1);
        }
    }
}

fn build_vm(kind: VmKind) -> mlua::Result<Lua> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::new(),
    )?;
    let (user_pcall, run, nonexistent): (Function, Function, Function) = lua
        .load(PRELUDE)
        .set_name(INTERNAL_CHUNK)
        .set_mode(ChunkMode::Text)
        .call(())?;
    lua.set_named_registry_value("strata.run", run)?;
    let handler = lua.create_function(error_handler)?;
    lua.set_named_registry_value("strata.handler", handler.clone())?;

    let g = lua.globals();
    for name in [
        "print", "dofile", "loadfile", "require", "module", "getfenv", "setfenv", "newproxy",
        "package", "debug", "os", "io",
    ] {
        g.raw_set(name, Value::Nil)?;
    }
    g.raw_set("pcall", user_pcall)?;
    install_random(&lua)?;
    g.raw_set("bit", super::libs::bit::open(&lua)?)?;
    g.raw_set("cjson", super::libs::cjson::open(&lua)?)?;
    g.raw_set("cmsgpack", super::libs::cmsgpack::open(&lua)?)?;
    g.raw_set("struct", super::libs::structlib::open(&lua)?)?;
    g.raw_set("redis", super::redis_api::open(&lua, kind)?)?;
    if kind == VmKind::Eval {
        g.raw_set("__redis__err__handler", handler)?;
    }
    let meta = lua.create_table()?;
    meta.raw_set("__index", nonexistent.clone())?;
    g.set_metatable(Some(meta.clone()))?;
    lua.set_named_registry_value("strata.nonexistent", nonexistent)?;

    if kind == VmKind::Functions {
        super::functions::setup_env(&lua, &g)?;
    }
    protect_recursively(&lua, &g)?;
    protect_recursively(&lua, &meta)?;
    super::run::install_hook(&lua)?;
    Ok(lua)
}

/// Makes `t` and every table reachable from it read-only.
pub fn protect_recursively(lua: &Lua, t: &Table) -> mlua::Result<()> {
    let mut stack = vec![t.clone()];
    let mut seen = std::collections::HashSet::new();
    while let Some(t) = stack.pop() {
        if !seen.insert(t.to_pointer() as usize) {
            continue;
        }
        for pair in t.pairs::<Value, Value>() {
            let (_, v) = pair?;
            if let Value::Table(child) = v {
                stack.push(child);
            }
        }
        set_readonly(lua, &t, true);
    }
    Ok(())
}

/// `math.random` and `math.randomseed` on Redis's rand48.
fn install_random(lua: &Lua) -> mlua::Result<()> {
    let math: Table = lua.globals().raw_get("math")?;
    let random = native(lua, |_, args| {
        let r = (super::rand48::lrand48() % super::rand48::LRAND48_MAX) as f64
            / super::rand48::LRAND48_MAX as f64;
        let v = match args.len() {
            0 => r,
            1 => {
                let u = check_int(&args, 0, "random")?;
                if u < 1 {
                    return Err(arg_error(1, "random", "interval is empty"));
                }
                (r * u as f64).floor() + 1.0
            }
            2 => {
                let l = check_int(&args, 0, "random")?;
                let u = check_int(&args, 1, "random")?;
                if l > u {
                    return Err(arg_error(2, "random", "interval is empty"));
                }
                (r * (u - l + 1) as f64).floor() + l as f64
            }
            _ => return Err(Raise::Located("wrong number of arguments".into())),
        };
        Ok(MultiValue::from_vec(vec![Value::Number(v)]))
    })?;
    let randomseed = native(lua, |_, args| {
        let seed = check_int(&args, 0, "randomseed")?;
        super::rand48::srand48(seed as i32);
        Ok(MultiValue::new())
    })?;
    math.raw_set("random", random)?;
    math.raw_set("randomseed", randomseed)?;
    Ok(())
}

/// `luaL_argerror`'s message.
pub fn arg_error(n: usize, func: &str, msg: &str) -> Raise {
    Raise::Located(format!("bad argument #{n} to '{func}' ({msg})"))
}

/// Lua's type names.
pub fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_)) | Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(Value::LightUserData(_)) | Some(Value::UserData(_)) | Some(Value::Error(_)) => {
            "userdata"
        }
        Some(_) => "userdata",
    }
}

/// A number argument, or a string that reads as one (`lua_tonumber`).
pub fn to_number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => {
            let b = s.as_bytes();
            let t = std::str::from_utf8(&b).ok()?.trim();
            if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                return u64::from_str_radix(hex, 16).ok().map(|n| n as f64);
            }
            t.parse::<f64>().ok()
        }
        _ => None,
    }
}

/// `luaL_checkinteger`: the number truncated toward zero.
pub fn check_int(args: &MultiValue, i: usize, func: &str) -> Result<i64, Raise> {
    let v = args.get(i);
    match v.and_then(to_number) {
        Some(n) => Ok(n as i64),
        None => Err(arg_error(
            i + 1,
            func,
            &format!("number expected, got {}", type_name(v)),
        )),
    }
}

/// `luaL_checknumber`.
pub fn check_number(args: &MultiValue, i: usize, func: &str) -> Result<f64, Raise> {
    let v = args.get(i);
    v.and_then(to_number).ok_or_else(|| {
        arg_error(
            i + 1,
            func,
            &format!("number expected, got {}", type_name(v)),
        )
    })
}

/// `luaL_checklstring`: strings, and numbers in Lua's "%.14g" form.
pub fn check_bytes(args: &MultiValue, i: usize, func: &str) -> Result<Vec<u8>, Raise> {
    let v = args.get(i);
    match v {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(n)) => Ok(n.to_string().into_bytes()),
        Some(Value::Number(n)) => Ok(lua_number_str(*n).into_bytes()),
        _ => Err(arg_error(
            i + 1,
            func,
            &format!("string expected, got {}", type_name(v)),
        )),
    }
}

/// Lua 5.1's number to string ("%.14g").
pub fn lua_number_str(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf" } else { "-inf" }.into();
    }
    crate::resp::reply::format_g(n, 14)
}

/// Compiles `code` as a text chunk named `name` (with `env` as its
/// environment if given). The error is Lua's message.
pub fn compile(lua: &Lua, code: &[u8], name: &str, env: Option<Table>) -> Result<Function, String> {
    let mut chunk = lua.load(code).set_name(name).set_mode(ChunkMode::Text);
    if let Some(env) = env {
        chunk = chunk.set_environment(env);
    }
    chunk.into_function().map_err(|e| match e {
        mlua::Error::SyntaxError { message, .. } => message,
        other => error_message(&other),
    })
}

/// The message inside an mlua error (no "runtime error: " prefixes).
pub fn error_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::CallbackError { cause, .. } => error_message(cause),
        mlua::Error::WithContext { cause, .. } => error_message(cause),
        other => other.to_string(),
    }
}

/// Redis's error handler (`__redis__err__handler`): turns any error into
/// an `{err = ...}` table and records where the script failed.
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let killed = super::run::kill_message(lua);
    let t = match (killed, err) {
        (Some(msg), _) => {
            let t = lua.create_table()?;
            t.raw_set("err", msg)?;
            t
        }
        (None, Value::Table(t)) => t,
        (None, other) => {
            let text: Bytes = match other {
                Value::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
                Value::Nil => Bytes::from_static(b"nil"),
                Value::Boolean(b) => Bytes::from(b.to_string()),
                Value::Integer(n) => Bytes::from(n.to_string()),
                Value::Number(n) => Bytes::from(lua_number_str(n)),
                Value::Error(e) => Bytes::from(error_message(&e)),
                v => Bytes::from(format!("{}: {:p}", type_name(Some(&v)), v.to_pointer())),
            };
            let mut msg = b"ERR ".to_vec();
            msg.extend_from_slice(&text);
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(&msg)?)?;
            t
        }
    };
    if let Some((source, line)) = user_frame(lua) {
        // A table raised by the script may be read-only only if it came
        // from the globals; then its position stays unrecorded.
        let _ = t.raw_set("source", source);
        let _ = t.raw_set("line", line);
    }
    Ok(t)
}

/// The innermost frame of user code: not C, not Strata's internal chunk.
fn user_frame(lua: &Lua) -> Option<(String, i64)> {
    for level in 1..64 {
        let frame = lua.inspect_stack(level, |d| {
            let src = d.source();
            (
                src.what,
                src.source.map(|s| s.into_owned()),
                d.current_line(),
            )
        })?;
        match frame {
            ("C", _, _) | ("tail", _, _) => continue,
            (_, Some(s), _) if s == INTERNAL_CHUNK => continue,
            (_, Some(s), line) => return Some((s, line.map_or(-1, |l| l as i64))),
            _ => continue,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(lua: &Lua, code: &str) -> Value {
        let f = compile(lua, code.as_bytes(), "@user_script", None).unwrap();
        let run: Function = lua.named_registry_value("strata.run").unwrap();
        let handler: Function = lua.named_registry_value("strata.handler").unwrap();
        let (ok, v): (bool, Value) = run.call((handler, f)).unwrap();
        assert!(ok, "script failed: {v:?}");
        v
    }

    fn eval_err(lua: &Lua, code: &str) -> String {
        let f = compile(lua, code.as_bytes(), "@user_script", None).unwrap();
        let run: Function = lua.named_registry_value("strata.run").unwrap();
        let handler: Function = lua.named_registry_value("strata.handler").unwrap();
        let (ok, v): (bool, Table) = run.call((handler, f)).unwrap();
        assert!(!ok);
        let err: String = v.raw_get("err").unwrap();
        let line: i64 = v.raw_get("line").unwrap_or(-1);
        format!("{err} @{line}")
    }

    #[test]
    fn globals_are_redis_s() {
        let lua = new_vm(VmKind::Eval);
        assert_eq!(
            eval_err(&lua, "return print"),
            "ERR user_script:1: Script attempted to access nonexistent global variable 'print' @1"
        );
        assert_eq!(
            eval_err(&lua, "x = 5"),
            "ERR user_script:1: Attempt to modify a readonly table @1"
        );
        assert_eq!(
            eval_err(&lua, "\nstring.foo = 1"),
            "ERR user_script:2: Attempt to modify a readonly table @2"
        );
        assert_eq!(
            eval_err(&lua, "rawset(_G, 'x', 1)"),
            "ERR Attempt to modify a readonly table @1"
        );
        let v = eval(&lua, "local t = {} t.x = 1 return t.x");
        assert_eq!(v, Value::Integer(1));
    }

    #[test]
    fn pcall_unwraps_error_tables() {
        let lua = new_vm(VmKind::Eval);
        let v = eval(&lua, "local ok, e = pcall(error, {err='x'}) return e");
        assert_eq!(v.as_string().unwrap().to_str().unwrap(), "x");
        assert_eq!(
            eval_err(&lua, "error('boom')"),
            "ERR user_script:1: boom @1"
        );
        assert_eq!(eval_err(&lua, "error({err='X y'})"), "X y @1");
    }

    #[test]
    fn bytecode_is_refused() {
        let lua = new_vm(VmKind::Eval);
        let v = eval(
            &lua,
            "local f, e = loadstring(string.dump(function() return 1 end)) return e",
        );
        let s = v.as_string().unwrap().to_string_lossy();
        assert!(s.contains("unexpected symbol near 'char(27)'"), "{s}");
    }

    #[test]
    fn seeded_random_matches_redis() {
        let lua = new_vm(VmKind::Eval);
        let v = eval(&lua, "math.randomseed(0) return tostring(math.random())");
        assert_eq!(v.as_string().unwrap().to_str().unwrap(), "0.17082803611217");
    }
}
