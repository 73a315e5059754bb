//! What a handler gets: the server state and the calling client.

use crate::client::Client;
use crate::server::Server;
use strata_engine::DbView;

pub struct Ctx<'a> {
    pub srv: &'a mut Server,
    pub client: &'a mut Client,
}

impl<'a> Ctx<'a> {
    pub fn new(srv: &'a mut Server, client: &'a mut Client) -> Ctx<'a> {
        Ctx { srv, client }
    }

    /// The door to the client's selected database.
    pub fn db(&mut self) -> DbView<'_> {
        self.srv.keyspace.db(self.client.db)
    }

    /// The door to another database (SELECT-independent: MOVE, COPY DB).
    pub fn db_at(&mut self, idx: usize) -> DbView<'_> {
        self.srv.keyspace.db(idx)
    }

    pub fn now_ms(&self) -> u64 {
        self.srv.keyspace.now_ms()
    }

    /// Propagates `argv` instead of the command as sent (a deterministic
    /// effect: absolute expiry times, SET for INCRBYFLOAT...).
    pub fn propagate_as(&mut self, argv: Vec<bytes::Bytes>) {
        if self.srv.propagation.enabled {
            self.srv.propagation.replace = Some(argv);
        }
    }

    /// Propagates an extra effect (in the client's db) before the command's own.
    pub fn also_propagate(&mut self, argv: Vec<bytes::Bytes>) {
        if self.srv.propagation.enabled {
            let db = self.client.db;
            self.srv.propagation.also.push((db, argv));
        }
    }

    /// The command's own argv is not propagated (its effects were, or none).
    pub fn no_propagate(&mut self) {
        self.srv.propagation.suppress = true;
    }

    /// Whether effects are being collected (handlers can skip building them).
    pub fn propagating(&self) -> bool {
        self.srv.propagation.enabled
    }
}
