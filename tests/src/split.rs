//! Splitting a line into arguments the way redis-cli and inline commands do
//! (Redis's `sdssplitargs`): words separated by whitespace, "double quotes"
//! with `\n \r \t \b \a \\ \" \xHH` escapes, 'single quotes' where only `\'`
//! is an escape, and a closing quote that must be followed by whitespace or
//! the end of the line.
//!
//! Kept separate from the server's own splitter on purpose: the tests must not
//! trust the code they test.

/// The arguments of `line`, or an error for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut words = Vec::new();
    let mut rest = line;
    loop {
        rest = skip_space(rest);
        if rest.is_empty() {
            return Ok(words);
        }
        let (word, after) = one_word(rest)?;
        words.push(word);
        rest = after;
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0)
}

fn skip_space(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| is_space(c)).count();
    &s[n..]
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[derive(Clone, Copy, PartialEq)]
enum Quote {
    None,
    Double,
    Single,
}

/// One word from the start of `s` (which does not start with whitespace),
/// and what follows it.
fn one_word(s: &[u8]) -> Result<(Vec<u8>, &[u8]), String> {
    let mut word = Vec::new();
    let mut quote = Quote::None;
    let mut i = 0;
    loop {
        let c = s.get(i).copied();
        match quote {
            Quote::None => match c {
                None => return Ok((word, &s[i..])),
                Some(c) if is_space(c) => return Ok((word, &s[i..])),
                Some(b'"') => quote = Quote::Double,
                Some(b'\'') => quote = Quote::Single,
                Some(c) => word.push(c),
            },
            Quote::Double => match c {
                None => return Err("unbalanced double quotes".into()),
                Some(b'\\') => {
                    let hex = (
                        s.get(i + 1),
                        s.get(i + 2).and_then(|&c| hex_value(c)),
                        s.get(i + 3).and_then(|&c| hex_value(c)),
                    );
                    if let (Some(b'x'), Some(hi), Some(lo)) = hex {
                        word.push(hi * 16 + lo);
                        i += 3;
                    } else if let Some(&next) = s.get(i + 1) {
                        word.push(match next {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                        i += 1;
                    } else {
                        // A backslash at the very end: the quote is never closed.
                        return Err("unbalanced double quotes".into());
                    }
                }
                Some(b'"') => return close_quote(word, s, i),
                Some(c) => word.push(c),
            },
            Quote::Single => match c {
                None => return Err("unbalanced single quotes".into()),
                Some(b'\\') if s.get(i + 1) == Some(&b'\'') => {
                    word.push(b'\'');
                    i += 1;
                }
                Some(b'\'') => return close_quote(word, s, i),
                Some(c) => word.push(c),
            },
        }
        i += 1;
    }
}

/// A closing quote at `s[i]` ends the word; it must be followed by whitespace
/// or the end of the line.
fn close_quote(word: Vec<u8>, s: &[u8], i: usize) -> Result<(Vec<u8>, &[u8]), String> {
    match s.get(i + 1) {
        Some(&c) if !is_space(c) => Err("closing quote must be followed by a space".into()),
        _ => Ok((word, &s[i + 1..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split_args(line.as_bytes())
            .unwrap()
            .into_iter()
            .map(|w| String::from_utf8_lossy(&w).into_owned())
            .collect()
    }

    #[test]
    fn plain_and_quoted_words() {
        assert_eq!(words("  set  k v "), ["set", "k", "v"]);
        assert_eq!(words(r#"set "a b" 'c d'"#), ["set", "a b", "c d"]);
        assert_eq!(words(r#"x "\x41\n\"" 'it\'s'"#), ["x", "A\n\"", "it's"]);
        assert_eq!(words(r#"a"b c""#), ["ab c"]);
        assert_eq!(words(r#""" ''"#), ["", ""]);
        assert_eq!(words(r#""\xZZ""#), ["xZZ"]);
        assert_eq!(split_args(b"\"\\xff\"").unwrap(), vec![vec![0xffu8]]);
    }

    #[test]
    fn unbalanced_quotes_are_errors() {
        assert!(split_args(b"set \"a").is_err());
        assert!(split_args(b"set 'a").is_err());
        assert!(split_args(b"set \"a\"b").is_err());
        assert!(split_args(b"set 'a'b").is_err());
        assert!(split_args(b"set \"a\\").is_err());
    }
}
