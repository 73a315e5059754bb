//! The AOF manifest (`<appendfilename>.manifest` in `appenddirname`), byte for
//! byte as Redis 7.0 writes it:
//!
//! ```text
//! file appendonly.aof.1.base.rdb seq 1 type b
//! file appendonly.aof.1.incr.aof seq 1 type i
//! ```
//!
//! Types: `b` base, `h` history (awaiting deletion), `i` incr. Lines starting
//! with `#` are comments; unknown keys are ignored (forward compatibility).
//! Invariants after parsing: at most one base, incr sequence numbers strictly
//! increase, every file name is a plain name (no path separators).

use std::fmt::Write as _;

/// Longest manifest line Redis accepts.
pub const MANIFEST_LINE_BYTES_MAX: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Base,
    History,
    Incr,
}

impl FileType {
    fn letter(self) -> char {
        match self {
            FileType::Base => 'b',
            FileType::History => 'h',
            FileType::Incr => 'i',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: u64,
    pub kind: FileType,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub incrs: Vec<AofFile>,
    pub history: Vec<AofFile>,
}

/// Base file name: `<prefix>.<seq>.base.rdb` or `.base.aof`.
pub fn base_name(prefix: &str, seq: u64, rdb: bool) -> String {
    format!("{prefix}.{seq}.base.{}", if rdb { "rdb" } else { "aof" })
}

pub fn incr_name(prefix: &str, seq: u64) -> String {
    format!("{prefix}.{seq}.incr.aof")
}

pub fn manifest_name(prefix: &str) -> String {
    format!("{prefix}.manifest")
}

impl Manifest {
    /// The files to load, in order: the base, then the incr files.
    pub fn load_order(&self) -> Vec<&AofFile> {
        self.base.iter().chain(self.incrs.iter()).collect()
    }

    pub fn last_incr_seq(&self) -> u64 {
        self.incrs.last().map_or(0, |f| f.seq)
    }

    /// The text Redis writes (base first, then history, then incr files).
    pub fn format(&self) -> String {
        let mut out = String::new();
        for f in self
            .base
            .iter()
            .chain(self.history.iter())
            .chain(self.incrs.iter())
        {
            let _ = writeln!(
                out,
                "file {} seq {} type {}",
                repr_if_needed(&f.name),
                f.seq,
                f.kind.letter()
            );
        }
        out
    }

    pub fn parse(text: &[u8]) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        let mut any = false;
        for (lineno, raw) in text.split(|&b| b == b'\n').enumerate() {
            if raw.len() > MANIFEST_LINE_BYTES_MAX {
                return Err(format!(
                    "The AOF manifest file line {} is too long",
                    lineno + 1
                ));
            }
            let line = trim(raw);
            if line.is_empty() || line.first() == Some(&b'#') {
                continue;
            }
            let words = split_words(line)
                .ok_or_else(|| format!("Invalid AOF manifest file format (line {})", lineno + 1))?;
            if words.len() % 2 != 0 {
                return Err(format!(
                    "Invalid AOF manifest file format (line {})",
                    lineno + 1
                ));
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks(2) {
                let (k, v) = (&pair[0], &pair[1]);
                match k.as_slice() {
                    b"file" => {
                        name = Some(
                            String::from_utf8(v.clone())
                                .map_err(|_| "AOF file name is not valid UTF-8".to_string())?,
                        )
                    }
                    b"seq" => {
                        seq = std::str::from_utf8(v)
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok())
                    }
                    b"type" => {
                        kind = match v.as_slice() {
                            b"b" => Some(FileType::Base),
                            b"h" => Some(FileType::History),
                            b"i" => Some(FileType::Incr),
                            _ => None,
                        }
                    }
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(format!(
                    "Invalid AOF manifest file format (line {})",
                    lineno + 1
                ));
            };
            if name.contains('/') || name.is_empty() {
                return Err(format!("Invalid AOF file name in manifest: {name}"));
            }
            let f = AofFile { name, seq, kind };
            any = true;
            match kind {
                FileType::Base => {
                    if m.base.is_some() {
                        return Err("Found duplicate base file information".into());
                    }
                    m.base = Some(f);
                }
                FileType::History => m.history.push(f),
                FileType::Incr => {
                    if m.incrs.last().is_some_and(|last| last.seq >= seq) {
                        return Err("Found a non-monotonic sequence number".into());
                    }
                    m.incrs.push(f);
                }
            }
        }
        if !any {
            return Err("Found an empty AOF manifest".into());
        }
        Ok(m)
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    b.get(start..end).unwrap_or(&[])
}

/// Splits on spaces with Redis's quoting (double quotes with escapes, single quotes).
fn split_words(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i] == b' ' {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let mut word = Vec::new();
        if line[i] == b'"' {
            i += 1;
            loop {
                let c = *line.get(i)?;
                if c == b'"' {
                    i += 1;
                    break;
                }
                if c == b'\\' {
                    let n = *line.get(i + 1)?;
                    if n == b'x' {
                        let h = std::str::from_utf8(line.get(i + 2..i + 4)?).ok()?;
                        word.push(u8::from_str_radix(h, 16).ok()?);
                        i += 4;
                        continue;
                    }
                    word.push(match n {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'a' => 7,
                        b'b' => 8,
                        other => other,
                    });
                    i += 2;
                    continue;
                }
                word.push(c);
                i += 1;
            }
        } else {
            while i < line.len() && line[i] != b' ' {
                word.push(line[i]);
                i += 1;
            }
        }
        out.push(word);
    }
    Some(out)
}

/// Quotes a file name the way Redis's sdscatrepr does when it needs it.
fn repr_if_needed(name: &str) -> String {
    let needs = name
        .bytes()
        .any(|c| !c.is_ascii_graphic() || c == b'"' || c == b'\\' || c == b'\'');
    if !needs {
        return name.to_string();
    }
    let mut s = String::from("\"");
    for c in name.bytes() {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => s.push(c as char),
            c => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_redis_manifest() {
        let text = b"file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.1.base.rdb");
        assert_eq!(m.incrs.len(), 1);
        assert_eq!(m.format().as_bytes(), text);
        assert_eq!(m.load_order().len(), 2);
    }

    #[test]
    fn quoted_names_and_errors() {
        let m = Manifest::parse(b"file \"my aof.1.base.aof\" seq 1 type b\n# comment\n").unwrap();
        assert_eq!(m.base.unwrap().name, "my aof.1.base.aof");
        assert!(Manifest::parse(b"").is_err());
        assert!(Manifest::parse(b"file x seq 1\n").is_err());
        assert!(Manifest::parse(b"file a seq 2 type i\nfile b seq 1 type i\n").is_err());
        assert!(Manifest::parse(b"file a seq 1 type b\nfile b seq 1 type b\n").is_err());
        assert!(Manifest::parse(b"file ../x seq 1 type b\n").is_err());
        // Unknown keys are ignored.
        assert!(Manifest::parse(b"file a seq 1 type b future yes\n").is_ok());
    }
}
