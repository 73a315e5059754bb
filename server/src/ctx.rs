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
}
