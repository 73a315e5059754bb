//! Validators of string directives, with Redis's refusal messages.

fn is_path(v: &[u8]) -> bool {
    v.contains(&b'/') || v.contains(&b'\\')
}

pub fn valid_dbfilename(v: &[u8]) -> Result<(), &'static str> {
    if is_path(v) {
        return Err("dbfilename can't be a path, just a filename");
    }
    Ok(())
}

pub fn valid_aof_filename(v: &[u8]) -> Result<(), &'static str> {
    if v.is_empty() {
        return Err("appendfilename can't be empty");
    }
    if is_path(v) {
        return Err("appendfilename can't be a path, just a filename");
    }
    Ok(())
}

pub fn valid_aof_dirname(v: &[u8]) -> Result<(), &'static str> {
    if v.is_empty() {
        return Err("appenddirname can't be empty");
    }
    if is_path(v) {
        return Err("appenddirname can't be a path, just a dirname");
    }
    Ok(())
}

/// NET_HOST_STR_LEN: announced hostnames must be shorter.
const HOSTNAME_BYTES_MAX: usize = 256;

pub fn valid_announced_hostname(v: &[u8]) -> Result<(), &'static str> {
    if v.len() >= HOSTNAME_BYTES_MAX {
        return Err("Hostnames must be less than 256 characters");
    }
    if v.iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
    {
        Ok(())
    } else {
        Err("Hostnames may only contain alphanumeric characters, hyphens or dots")
    }
}

/// The variables `proc-title-template` may use, with the value each has when
/// the template is checked (only whether the expansion is empty matters).
fn title_variable(name: &[u8]) -> Option<&'static str> {
    Some(match name {
        b"title" | b"server-mode" | b"unixsocket" | b"config-file" => "",
        b"listen-addr" => "*:6379",
        b"port" => "6379",
        b"tls-port" => "0",
        _ => return None,
    })
}

/// A template is valid when every `{variable}` is known, braces are
/// balanced (`{{` is a literal brace), and the expansion is not blank.
pub fn valid_proc_title_template(v: &[u8]) -> Result<(), &'static str> {
    const ERR: &str = "template format is invalid or contains unknown variables";
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        if v[i] != b'{' {
            out.push(v[i]);
            i += 1;
            continue;
        }
        i += 1;
        match v.get(i) {
            None => return Err(ERR),
            Some(b'{') => {
                out.push(b'{');
                i += 1;
            }
            Some(_) => {
                let Some(len) = v[i..].iter().position(|&c| c == b'}') else {
                    return Err(ERR);
                };
                let value = title_variable(&v[i..i + len]).ok_or(ERR)?;
                out.extend_from_slice(value.as_bytes());
                i += len + 1;
            }
        }
    }
    if out.iter().all(|&c| c == b' ') {
        return Err(ERR);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert!(valid_dbfilename(b"dump.rdb").is_ok());
        assert!(valid_dbfilename(b"").is_ok());
        assert_eq!(
            valid_dbfilename(b"a/b"),
            Err("dbfilename can't be a path, just a filename")
        );
        assert_eq!(
            valid_aof_filename(b""),
            Err("appendfilename can't be empty")
        );
        assert_eq!(
            valid_aof_dirname(b"x\\y"),
            Err("appenddirname can't be a path, just a dirname")
        );
    }

    #[test]
    fn templates() {
        assert!(valid_proc_title_template(b"{title} {listen-addr} {server-mode}").is_ok());
        assert!(valid_proc_title_template(b"x").is_ok());
        assert!(valid_proc_title_template(b"{{literal").is_ok());
        assert!(valid_proc_title_template(b"").is_err());
        assert!(valid_proc_title_template(b"{foo}").is_err());
        assert!(valid_proc_title_template(b"{title").is_err());
        assert!(valid_proc_title_template(b"{title} {server-mode}").is_err());
    }

    #[test]
    fn hostnames() {
        assert!(valid_announced_hostname(b"a-b.c").is_ok());
        assert!(valid_announced_hostname(b"a b").is_err());
        assert!(valid_announced_hostname(&[b'a'; 256]).is_err());
    }
}
