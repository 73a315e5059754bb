//! Effects propagation: what the AOF (and, later, replicas) receive.
//!
//! A command's effect is its own argv unless its handler says otherwise:
//! `Ctx::propagate_as` replaces it (EXPIRE -> PEXPIREAT, INCRBYFLOAT -> SET
//! KEEPTTL), `Ctx::also_propagate` adds effects before it, `Ctx::no_propagate`
//! drops it. Keys deleted by expiry become DELs. Everything one execution
//! unit (a command, an EXEC, a script) produced is collected in `unit` and,
//! when the unit ends, handed on as a whole: wrapped in MULTI/EXEC when it
//! holds more than one effect, so replay applies it atomically.
//!
//! Invariant: nothing is collected while no consumer is enabled, so the hot
//! path pays one branch.

use bytes::Bytes;

use crate::server::Server;

#[derive(Default)]
pub struct Propagation {
    /// True while an AOF (or a replica) consumes effects.
    pub enabled: bool,
    /// Effects of the running unit: (db, argv).
    pub unit: Vec<(usize, Vec<Bytes>)>,
    /// Depth of nested calls (EXEC and scripts call commands inside a unit).
    pub depth: u32,
    /// Set by the running handler.
    pub(crate) replace: Option<Vec<Bytes>>,
    pub(crate) suppress: bool,
    pub(crate) also: Vec<(usize, Vec<Bytes>)>,
}

/// Before a handler runs.
pub fn before_call(srv: &mut Server) {
    let p = &mut srv.propagation;
    p.depth += 1;
    if p.enabled {
        p.replace = None;
        p.suppress = false;
        p.also.clear();
    }
}

/// After a handler ran: records its effects (if it changed the dataset).
pub fn after_call(srv: &mut Server, db: usize, is_write: bool, changed: bool, argv: &[Bytes]) {
    srv.propagation.depth = srv.propagation.depth.saturating_sub(1);
    if !srv.propagation.enabled {
        srv.keyspace.shared.expired.clear();
        return;
    }
    let expired = std::mem::take(&mut srv.keyspace.shared.expired);
    let p = &mut srv.propagation;
    for (edb, key) in expired {
        p.unit.push((
            edb,
            vec![Bytes::from_static(b"DEL"), Bytes::from(key.into_vec())],
        ));
    }
    let also = std::mem::take(&mut p.also);
    p.unit.extend(also);
    if changed && is_write && !p.suppress {
        let effect = p.replace.take().unwrap_or_else(|| argv.to_vec());
        p.unit.push((db, effect));
    }
    p.replace = None;
    p.suppress = false;
}

/// At the end of a top-level execution unit: hands the effects to the AOF.
pub fn end_unit(srv: &mut Server) {
    if srv.propagation.depth > 0 || srv.propagation.unit.is_empty() {
        return;
    }
    let unit = std::mem::take(&mut srv.propagation.unit);
    let wrap = unit.len() > 1;
    let Some(aof) = srv.aof.as_mut() else { return };
    if wrap {
        aof.append_effect(unit[0].0, &[Bytes::from_static(b"MULTI")]);
    }
    for (db, argv) in &unit {
        aof.append_effect(*db, argv);
    }
    if wrap {
        let db = unit.last().map_or(0, |u| u.0);
        aof.append_effect(db, &[Bytes::from_static(b"EXEC")]);
    }
}

/// Keys deleted by the cron's active expiry: each a DEL of its own.
pub fn flush_expired(srv: &mut Server) {
    if !srv.propagation.enabled {
        srv.keyspace.shared.expired.clear();
        return;
    }
    let expired = std::mem::take(&mut srv.keyspace.shared.expired);
    if let Some(aof) = srv.aof.as_mut() {
        for (db, key) in expired {
            aof.append_effect(
                db,
                &[Bytes::from_static(b"DEL"), Bytes::from(key.into_vec())],
            );
        }
    }
}
