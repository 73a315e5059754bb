//! SLOWLOG GET [count] | LEN | RESET | HELP, over `introspect.slowlog`.

use crate::commands::{
    acl, container, flags::*, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS,
};
use crate::ctx::Ctx;
use crate::family::command::help_reply;
use crate::resp::Reply;

/// Entries SLOWLOG GET returns when no count is given.
const GET_DEFAULT_COUNT: usize = 10;

const SUBCOMMANDS: &[CommandSpec] = &[
    spec("get", -2, ADMIN | LOADING | STALE, 0, NO_KEYS, get),
    spec("help", 2, LOADING | STALE, 0, NO_KEYS, help),
    spec("len", 2, ADMIN | LOADING | STALE, 0, NO_KEYS, len),
    spec("reset", 2, ADMIN | LOADING | STALE, 0, NO_KEYS, reset),
];

pub const COMMANDS: &[CommandSpec] = &[container("slowlog", -2, 0, acl::SLOW, SUBCOMMANDS)];

fn help(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(help_reply(
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    ))
}

fn get(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let count = match args.remaining() {
        0 => Some(GET_DEFAULT_COUNT),
        1 => {
            let err = || CmdError::new("ERR count should be greater than or equal to -1");
            let n = crate::commands::args::parse_i64(&args.next()?).map_err(|_| err())?;
            match n {
                -1 => None,
                n if n < -1 => return Err(err()),
                n => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            }
        }
        _ => {
            let sub = String::from_utf8_lossy(&args.argv()[1])
                .chars()
                .take(128)
                .collect::<String>();
            return Err(CmdError::new(format!(
                "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try SLOWLOG HELP."
            )));
        }
    };
    let entries = ctx
        .srv
        .introspect
        .slowlog
        .newest(count)
        .map(|e| {
            Reply::Array(vec![
                Reply::Int(e.id as i64),
                Reply::Int(e.time_s as i64),
                Reply::Int(e.duration_us as i64),
                Reply::Array(e.argv.iter().cloned().map(Reply::Bulk).collect()),
                Reply::bulk_str(&e.client_addr),
                Reply::Bulk(e.client_name.clone()),
            ])
        })
        .collect();
    Ok(Reply::Array(entries))
}

fn len(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(Reply::Int(ctx.srv.introspect.slowlog.len() as i64))
}

fn reset(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    ctx.srv.introspect.slowlog.reset();
    Ok(Reply::OK)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::client::Client;
    use crate::config::Config;
    use crate::server::Server;

    pub fn run(srv: &mut Server, client: &mut Client, line: &str) -> Vec<u8> {
        let argv: Vec<Bytes> = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        client.out.clear();
        crate::dispatch::execute(srv, client, argv);
        std::mem::take(&mut client.out)
    }

    #[test]
    fn commands_are_logged_newest_first_with_client_details() {
        let mut config = Config::default();
        config
            .set_by_name("slowlog-log-slower-than", &[b"0"])
            .unwrap();
        config.set_by_name("slowlog-max-len", &[b"2"]).unwrap();
        let mut srv = Server::new(config);
        let mut client = Client::new(7, 0);
        client.addr = "127.0.0.1:5555".into();
        client.name = Some(Bytes::from_static(b"me"));
        run(&mut srv, &mut client, "SET a b");
        run(&mut srv, &mut client, "GET a");
        let out = run(&mut srv, &mut client, "SLOWLOG GET 1");
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("*1\r\n*6\r\n:1\r\n:"), "{text}");
        assert!(
            text.ends_with("*2\r\n$3\r\nGET\r\n$1\r\na\r\n$14\r\n127.0.0.1:5555\r\n$2\r\nme\r\n"),
            "{text}"
        );
        // SLOWLOG GET itself was logged too, and the length is capped at 2.
        assert_eq!(run(&mut srv, &mut client, "SLOWLOG LEN"), b":2\r\n");
        assert_eq!(run(&mut srv, &mut client, "SLOWLOG RESET"), b"+OK\r\n");
        // RESET was logged after it emptied the log.
        assert_eq!(run(&mut srv, &mut client, "SLOWLOG LEN"), b":1\r\n");
    }

    #[test]
    fn negative_threshold_disables_logging() {
        let mut config = Config::default();
        config
            .set_by_name("slowlog-log-slower-than", &[b"-1"])
            .unwrap();
        let mut srv = Server::new(config);
        let mut client = Client::new(7, 0);
        run(&mut srv, &mut client, "SET a b");
        assert_eq!(run(&mut srv, &mut client, "SLOWLOG LEN"), b":0\r\n");
    }

    #[test]
    fn slow_commands_are_latency_events() {
        let mut config = Config::default();
        config
            .set_by_name("latency-monitor-threshold", &[b"10"])
            .unwrap();
        config
            .set_by_name("enable-debug-command", &[b"yes"])
            .unwrap();
        let mut srv = Server::new(config);
        let mut client = Client::new(7, 0);
        assert_eq!(run(&mut srv, &mut client, "DEBUG SLEEP 0.02"), b"+OK\r\n");
        run(&mut srv, &mut client, "GET a");
        let out =
            String::from_utf8_lossy(&run(&mut srv, &mut client, "LATENCY LATEST")).into_owned();
        assert!(out.starts_with("*1\r\n*4\r\n$7\r\ncommand\r\n:"), "{out}");
        let out = String::from_utf8_lossy(&run(&mut srv, &mut client, "LATENCY HISTORY command"))
            .into_owned();
        assert!(out.starts_with("*1\r\n*2\r\n:"), "{out}");
        assert_eq!(
            run(&mut srv, &mut client, "LATENCY RESET command nope"),
            b":1\r\n"
        );
        assert_eq!(run(&mut srv, &mut client, "LATENCY LATEST"), b"*0\r\n");
    }

    #[test]
    fn debug_is_protected_by_default() {
        let mut srv = Server::new(Config::default());
        let mut client = Client::new(7, 0);
        let out =
            String::from_utf8_lossy(&run(&mut srv, &mut client, "DEBUG SLEEP 0")).into_owned();
        assert!(out.starts_with("-ERR DEBUG command not allowed."), "{out}");
        let out =
            String::from_utf8_lossy(&run(&mut srv, &mut client, "INFO commandstats")).into_owned();
        assert!(
            out.contains(
                "cmdstat_debug:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0"
            ),
            "{out}"
        );
    }
}
